"""On a phone (360x740): a patient turns on two-step sign-in and signs in with a code.

The QR code page, the recovery codes and the code step (with a wrong code first) are checked
by axe (no serious or critical problem) at 360 and 1280 px, for sideways scrolling and
for the 200 KB page budget.
"""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, PatientFactory, PracticeFactory
from tests.portal.test_two_step import _with_password

from .test_console_a11y import _violations
from .test_portal_a11y import DESKTOP, MAX_BYTES, _weight
from .test_portal_flow import PHONE, _no_horizontal_scroll

pytestmark = pytest.mark.browser


def _check(pg, screenshot, name: str) -> None:
    """No sideways scroll at 360 px, under 200 KB, and axe clean at 360 and 1280 px."""
    _no_horizontal_scroll(pg)
    assert _weight(pg) <= MAX_BYTES, name
    assert _violations(pg) == [], (name, _violations(pg))
    screenshot(pg, f"portal-two-step-{name}-360")
    pg.set_viewport_size(DESKTOP)
    assert _violations(pg) == [], (name, "1280", _violations(pg))
    screenshot(pg, f"portal-two-step-{name}-1280")
    pg.set_viewport_size(PHONE)


def test_turn_on_two_step_and_sign_in_with_a_code_on_a_phone(
    app, live_server, new_page, screenshot
):
    """Profile → set up (QR) → first code → recovery codes → sign out → password → code."""
    practice = PracticeFactory()
    slug = practice.clinic.slug
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    _with_password(app, practice.clinic, patient.id)
    pg = new_page(PHONE)
    pg.context.add_cookies(
        [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
    )
    pg.goto(live_server.url(slug, "/profile?lang=en"))
    pg.get_by_role("button", name="Set up two-step sign-in").click()
    expect(pg.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    expect(pg.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    _check(pg, screenshot, "setup")
    secret = pg.locator("#totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    pg.get_by_label("Code from your authenticator app").fill(totp.now())
    pg.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(pg.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    assert pg.locator("#recovery-codes li").count() == 10
    _check(pg, screenshot, "codes")
    pg.get_by_role("link", name="I have saved them").click()
    expect(pg.get_by_text("On since")).to_be_visible()

    pg.get_by_role("button", name="Sign out").click()
    pg.goto(live_server.url(slug, "/sign-in"))
    pg.get_by_label("Email").fill(patient.email)
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    expect(pg.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    pg.get_by_label("Code from your authenticator app").fill("000000")
    pg.get_by_role("button", name="Sign in").click()
    expect(pg.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(pg.get_by_label("Code from your authenticator app")).to_be_visible()  # form kept
    _check(pg, screenshot, "code-error")
    # the code used to turn it on was claimed: the next time step's code signs in
    pg.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/appointments")
    expect(pg.get_by_role("button", name="Sign out")).to_be_visible()
