"""An operator suspends and reactivates a clinic in the browser; the clinic shows it.

The operator signs in with TOTP, finds the clinic, suspends and reactivates it; the clinic's
portal and console show the effect. Every /ops page passes axe (no serious or critical).

Headless Chromium against the live server: the operator console on ``localhost:PORT/ops``,
the clinic on ``<slug>.localhost:PORT``. Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.admin.platform.conftest import PASSWORD, create_operator_account
from tests.factories import ClinicFactory, StaffFactory

pytestmark = pytest.mark.browser


def _violations(pg) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(pg)
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target'] if v['nodes'] else ''}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _status(owner_dsn, clinic) -> str:
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute("SELECT status FROM tenants WHERE id = %s", (clinic.id,)).fetchone()[0]


def test_operator_suspends_and_reactivates_a_clinic(
    app, live_server, new_page, screenshot, owner_dsn
):
    """Sign in, search, suspend with a reason, see it on the clinic's side, reactivate.

    Password and TOTP; the portal and the console show the suspension; axe runs on every
    operator page on the way.
    """
    operator = create_operator_account(app, "admin")
    clinic = ClinicFactory(name="Arnica Montana Clinic")
    admin = StaffFactory(clinic=clinic, role="admin")
    problems: dict[str, list[str]] = {}

    def check(pg, name):
        screenshot(pg, f"ops-{name}")
        if found := _violations(pg):
            problems[name] = found

    ops = new_page()
    ops.goto(live_server.url(None, "/ops/tenants"))
    ops.wait_for_url("**/ops/login")
    check(ops, "sign-in")
    ops.get_by_label("Email").fill(operator.email)
    ops.get_by_label("Password").fill(PASSWORD)
    ops.get_by_role("button", name="Continue").click()
    ops.wait_for_url("**/ops/login/code")
    check(ops, "code")
    ops.get_by_label("Code from your authenticator app").fill(operator.code())
    ops.get_by_role("button", name="Sign in").click()
    ops.wait_for_url("**/ops/tenants")
    expect(ops.get_by_role("status").first).to_contain_text("Signed in as")

    ops.get_by_label("Name, address or domain").fill(clinic.slug)
    ops.get_by_role("button", name="Search").click()
    expect(ops.get_by_text("1 clinic found.")).to_be_visible()
    check(ops, "clinics")
    ops.get_by_role("link", name="Arnica Montana Clinic").click()
    expect(ops.get_by_role("heading", level=1)).to_have_text("Arnica Montana Clinic")
    check(ops, "clinic")

    # suspending without a reason shows the error summary and keeps the clinic in its trial
    ops.get_by_role("button", name="Suspend clinic").click()
    expect(ops.locator(".error-summary")).to_contain_text("Enter the reason")
    check(ops, "clinic-error")
    assert _status(owner_dsn, clinic) == "trialing"
    status_form = ops.locator("form", has=ops.get_by_role("button", name="Suspend clinic"))
    status_form.get_by_label("Reason").fill("Unpaid invoice 1042")
    ops.get_by_role("button", name="Suspend clinic").click()
    expect(ops.locator("[data-status]")).to_have_text("suspended")
    expect(ops.locator("table").last).to_contain_text("Unpaid invoice 1042")
    assert _status(owner_dsn, clinic) == "suspended"

    portal = new_page()
    portal.goto(live_server.url(clinic.slug, "/"))
    expect(portal.locator("[data-paused]")).to_contain_text("Online booking is paused")
    screenshot(portal, "ops-effect-portal-paused")

    console = new_page()
    console.goto(live_server.url(clinic.slug, "/login"))
    console.get_by_label("Email").fill(admin.email)
    console.get_by_label("Password").fill(admin.password)
    console.get_by_role("button", name="Continue").click()
    console.get_by_label("Code from your authenticator app").fill(admin.code())
    console.get_by_role("button", name="Verify").click()
    console.wait_for_url("**/console/")
    expect(console.locator("[data-paused]")).to_contain_text("the console is read-only")
    screenshot(console, "ops-effect-console-read-only")

    status_form = ops.locator("form", has=ops.get_by_role("button", name="Reactivate clinic"))
    status_form.get_by_label("Reason").fill("Invoice paid")
    ops.get_by_role("button", name="Reactivate clinic").click()
    expect(ops.locator("[data-status]")).to_have_text("trialing")  # its trial is not over
    assert _status(owner_dsn, clinic) == "trialing"
    portal.reload()
    expect(portal.locator("[data-paused]")).to_have_count(0)
    console.reload()
    expect(console.locator("[data-paused]")).to_have_count(0)

    # a clinic in its trial: the operator extends it by 10 days, with a reason
    import psycopg

    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        conn.execute(
            "UPDATE tenants SET status = 'trialing', trial_ends_at = now() + interval '2 days' "
            "WHERE id = %s",
            (clinic.id,),
        )
        (before,) = conn.execute(
            "SELECT trial_ends_at FROM tenants WHERE id = %s", (clinic.id,)
        ).fetchone()
    ops.reload()
    trial = ops.locator("form", has=ops.get_by_role("button", name="Extend trial"))
    trial.get_by_label("Days to add").fill("10")
    trial.get_by_label("Reason").fill("Onboarding took longer")
    trial.get_by_role("button", name="Extend trial").click()
    expect(ops.get_by_role("status").first).to_be_visible()
    check(ops, "clinic-trial-extended")
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        (after,) = conn.execute(
            "SELECT trial_ends_at FROM tenants WHERE id = %s", (clinic.id,)
        ).fetchone()
    assert (after - before).days == 10

    ops.get_by_role("link", name="Audit log").click()
    expect(ops.get_by_text("The chain is intact")).to_be_visible()
    check(ops, "audit")
    assert not problems, problems
