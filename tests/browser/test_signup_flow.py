"""A clinic owner signs up in the browser, enrols TOTP, opens the console, signs out and back in.

Everything happens in headless Chromium against the live server: the platform at
``localhost:PORT`` hands the owner over to the clinic's own host ``<slug>.localhost:PORT``.
Database rows are checked through the owner connection (outside RLS) to prove what the
pages claim. Screenshots land in ``tests/artifacts/`` for a human to review.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pyotp
import pytest
from playwright.sync_api import expect

from .conftest import MOBILE

pytestmark = pytest.mark.browser

PASSWORD = "calendula 30C!"
RECOVERY_CODE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}$")


BRAND_GREEN = "rgb(47, 111, 94)"  # --brand in saas/static/similia.css


def _expect_styled(page) -> None:
    """The stylesheet loaded and applies (the header bar is the brand colour)."""
    expect(page.locator("header.top")).to_have_css("background-color", BRAND_GREEN)


def _host(url: str) -> str:
    return urlsplit(url).hostname


def _row(dsn: str, sql: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchone()


def _step(at: float | None = None) -> int:
    return int(time.time() if at is None else at) // 30


def _fresh_code(totp: pyotp.TOTP, used_step: int) -> str:
    """A code the server has not accepted yet: the current step, or the next one if used.

    The server accepts one step of clock drift either way but never a step at or before the
    last accepted one, so after a sign-in in this 30-second window the next window's code is
    the one a user would type half a minute later. Waiting for the boundary would also do; the
    drift window keeps the test fast.
    """
    step = max(_step(), used_step + 1)
    return totp.at(step * 30)


def _field(page, label: str):
    """The ``.field`` wrapper of the control labelled ``label`` (label, input, hint, error)."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def _expect_field_error(page, label: str, message: str) -> None:
    """``message`` is shown right under the field, flagged, and read out with it."""
    control = page.get_by_label(label, exact=True)
    error = _field(page, label).locator(".error-text")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    expect(control).to_have_attribute("aria-invalid", "true")
    # Tied to the input for screen readers, not only placed next to it.
    expect(control).to_have_accessible_description(re.compile(re.escape(message)))
    box, err = control.bounding_box(), error.bounding_box()
    gap = err["y"] - (box["y"] + box["height"])
    assert 0 <= gap <= 80, f"{label}: error is {gap}px below its field"
    assert abs(err["x"] - box["x"]) <= 2, f"{label}: error is not aligned with its field"


def test_owner_signs_up_enrols_totp_and_signs_back_in(
    page, new_page, live_server, owner_dsn, screenshot
):
    """Signup form (errors, then success) → hand-off → TOTP enrolment → console → sign-in."""
    slug = f"b-{uuid.uuid4().hex[:10]}"
    clinic_name = f"Arnica Homeopathy {slug[2:6].upper()}"
    owner_name = "Hahn Emann"
    email = f"owner@{slug}.example.org"

    # -- the platform home leads to the signup form ---------------------------------------
    page.goto(live_server.url())
    expect(page).to_have_title(re.compile("Similia"))
    _expect_styled(page)
    page.get_by_role("main").get_by_role("link", name="Create your clinic").click()
    expect(page).to_have_url(live_server.url(path="/signup"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your clinic")
    for label in (
        "Clinic name", "Clinic address", "Country", "Time zone", "Your name", "Your email",
        "Password",
    ):  # fmt: skip
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_label("Country")).to_have_value("GB")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/London")
    screenshot(page, "01-signup-form")

    # -- first attempt: reserved address and a short password -----------------------------
    page.get_by_label("Clinic name").fill(clinic_name)
    page.get_by_label("Clinic address").fill("admin")
    page.get_by_label("Country").select_option(label="India")
    page.get_by_label("Time zone").select_option("Asia/Kolkata")
    page.get_by_label("Your name").fill(owner_name)
    page.get_by_label("Your email").fill(email)
    page.get_by_label("Password").fill("short")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create clinic").click()
    assert posted.value.status == 422
    expect(page).to_have_url(live_server.url(path="/signup"))
    summary = page.get_by_role("alert").filter(has_text="Please correct the highlighted fields")
    expect(summary).to_be_visible()

    slug_input = page.get_by_label("Clinic address")
    password_input = page.get_by_label("Password")
    _expect_field_error(page, "Clinic address", "This address is reserved. Choose another.")
    _expect_field_error(page, "Password", "Use at least 10 characters.")
    expect(slug_input).to_have_value("admin")
    expect(password_input).to_have_value("")  # never echoed back

    # Valid fields keep what was typed and are not flagged.
    expect(page.get_by_label("Clinic name")).to_have_value(clinic_name)
    expect(page.get_by_label("Your email")).to_have_value(email)
    expect(page.get_by_label("Country")).to_have_value("IN")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")
    expect(page.get_by_label("Your email")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".error-text")).to_have_count(2)
    screenshot(page, "02-signup-errors")

    # Nothing was created.
    assert _row(owner_dsn, "SELECT count(*) FROM tenants WHERE name = %s", clinic_name)[0] == 0
    assert _row(owner_dsn, "SELECT count(*) FROM users WHERE email = %s", email)[0] == 0

    # -- second attempt: a free address and a real password -------------------------------
    slug_input.fill(slug)
    password_input.fill(PASSWORD)
    page.get_by_role("button", name="Create clinic").click()

    # Handed over to the clinic's own host, to enrol an authenticator.
    expect(page).to_have_url(live_server.url(slug, "/mfa/enrol"))
    assert _host(page.url) == f"{slug}.localhost"
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-step sign-in")
    _expect_styled(page)
    expect(page.get_by_role("banner")).to_contain_text(clinic_name)
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret_el = page.locator("#totp-secret")
    shown = secret_el.inner_text().strip()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown), shown  # grouped for reading
    secret = shown.replace(" ", "")
    expect(secret_el).to_have_attribute("data-secret", secret)
    screenshot(page, "03-enrol")

    tenant = _row(
        owner_dsn,
        "SELECT id, name, country, timezone, currency, status FROM tenants WHERE slug = %s",
        slug,
    )
    assert tenant is not None
    tenant_id = tenant[0]
    # signup starts the free trial
    assert tenant[1:] == (clinic_name, "IN", "Asia/Kolkata", "INR", "trialing")
    owner = _row(
        owner_dsn,
        "SELECT name, role, mfa_enrolled_at, password_hash FROM users"
        " WHERE tenant_id = %s AND email = %s",
        tenant_id,
        email,
    )
    assert owner[:3] == (owner_name, "owner", None)
    assert owner[3].startswith("$argon2id$") and PASSWORD not in owner[3]

    # -- confirm the authenticator; recovery codes are shown once -------------------------
    totp = pyotp.TOTP(secret)
    enrol_at = time.time()
    enrol_code = totp.at(enrol_at)
    page.get_by_label("Code from your authenticator app").fill(enrol_code)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    expect(page.get_by_role("status").filter(has_text="Two-step sign-in is on.")).to_be_visible()
    items = page.locator("#recovery-codes li")
    expect(items).to_have_count(10)
    codes = [c.strip() for c in items.all_inner_texts()]
    assert len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(c) for c in codes), codes
    screenshot(page, "04-recovery-codes")

    enrolled = _row(
        owner_dsn,
        "SELECT mfa_enrolled_at, totp_last_step, last_login_at FROM users"
        " WHERE tenant_id = %s AND email = %s",
        tenant_id,
        email,
    )
    assert enrolled[0] is not None and enrolled[2] is not None
    used_step = enrolled[1]
    assert used_step == _step(enrol_at)
    (unused_codes,) = _row(
        owner_dsn,
        "SELECT count(*) FROM recovery_codes WHERE tenant_id = %s AND used_at IS NULL",
        tenant_id,
    )
    assert unused_codes == 10

    # -- the console ----------------------------------------------------------------------
    page.get_by_role("link", name="I have saved them — open the console").click()
    expect(page).to_have_url(live_server.url(slug, "/console/"))
    assert _host(page.url) == f"{slug}.localhost"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Good day, {owner_name}")
    expect(page.get_by_role("main")).to_contain_text(clinic_name)
    expect(page.get_by_role("main")).to_contain_text("Asia/Kolkata")
    expect(page.get_by_role("banner").get_by_role("link", name=clinic_name)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "05-console")

    # -- a phone-size signup page (separate context) --------------------------------------
    phone = new_page(viewport=MOBILE, is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.goto(live_server.url(path="/signup"))
    expect(phone.get_by_label("Clinic name")).to_be_visible()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"signup page scrolls sideways on a phone by {overflow}px"
    screenshot(phone, "06-signup-mobile")

    # -- sign out: the session really ends ------------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_server.url(slug, "/login"))
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(live_server.url(slug, "/console/"))
    assert urlsplit(page.url).path == "/login", page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign in")

    # -- sign back in: wrong password, then email + password + a fresh TOTP code ----------
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password 1")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value(email)
    screenshot(page, "07-login-error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(re.escape(live_server.url(slug, "/login/mfa"))))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")

    # The code used at enrolment is refused: a code works once.
    page.get_by_label("Code from your authenticator app").fill(enrol_code)
    page.get_by_role("button", name="Verify").click()
    code_box = page.get_by_label("Code from your authenticator app")
    expect(code_box).to_have_attribute("aria-invalid", "true")
    expect(code_box).to_have_accessible_description(re.compile("That code did not work."))
    expect(code_box).to_have_value("")
    screenshot(page, "08-mfa-error")

    page.get_by_label("Code from your authenticator app").fill(_fresh_code(totp, used_step))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(live_server.url(slug, "/console/"))
    assert _host(page.url) == f"{slug}.localhost"
    expect(page.get_by_role("status")).to_have_text(f"Welcome back, {owner_name}.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Good day, {owner_name}")
    expect(page.get_by_role("main")).to_contain_text(clinic_name)

    after = _row(
        owner_dsn,
        "SELECT totp_last_step FROM users WHERE tenant_id = %s AND email = %s",
        tenant_id,
        email,
    )
    assert after[0] > used_step
    (sign_ins,) = _row(
        owner_dsn,
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'auth.sign_in'",
        tenant_id,
    )
    assert sign_ins == 2  # at enrolment, and now
