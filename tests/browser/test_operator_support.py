"""Support access in the browser: the owner allows it, the operator looks, it ends.

The clinic's owner allows support access for an hour in the console (a banner shows it),
the operator sees the clinic's staff and message states on /ops, the owner ends it and the
operator is refused; a second grant then runs out by the database clock and the operator is
refused again. axe (no serious or critical) runs on the new console and /ops pages (support
access, the clinic's page, the health page, the owner's closing page and the clinic's
export), and each is also shot at 360 px, where nothing may scroll sideways.
"""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.admin.platform.conftest import PASSWORD, create_operator_account
from tests.browser.conftest import DESKTOP
from tests.browser.test_operator_console import _violations
from tests.factories import ClinicFactory, StaffFactory

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


def test_owner_grants_operator_sees_owner_revokes_and_grant_expires(
    app, live_server, new_page, screenshot, owner_dsn
):
    """Grant → operator sees; revoke → refused; grant again, time runs out → refused."""
    operator = create_operator_account(app, "support")
    clinic = ClinicFactory(name="Calendula Clinic")
    owner = StaffFactory(clinic=clinic, role="owner")
    problems: dict[str, list[str]] = {}

    def check(pg, name):
        screenshot(pg, f"support-{name}")
        if found := _violations(pg):
            problems[name] = found
        # and on a phone: the page reflows, nothing scrolls sideways
        pg.set_viewport_size(PHONE)
        screenshot(pg, f"support-{name}-360")
        width = pg.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems[f"{name}-360"] = [f"scrolls sideways ({width}px)"]
        pg.set_viewport_size(DESKTOP)

    console = new_page()
    console.goto(live_server.url(clinic.slug, "/login"))
    console.get_by_label("Email").fill(owner.email)
    console.get_by_label("Password").fill(owner.password)
    console.get_by_role("button", name="Continue").click()
    console.get_by_label("Code from your authenticator app").fill(owner.code())
    console.get_by_role("button", name="Verify").click()
    console.wait_for_url("**/console/")
    console.get_by_role("link", name="Your security").click()
    console.get_by_role("link", name="Support access").click()
    expect(console.get_by_text("Support access is off.")).to_be_visible()
    check(console, "console-off")
    console.get_by_label("4 hours", exact=True).check()
    console.get_by_role("button", name="Allow support access").click()
    expect(console.locator("[data-support-active]")).to_contain_text("Support access is on")
    expect(console.locator("[data-support-access]")).to_contain_text("Similia support can see")
    check(console, "console-on")

    ops = new_page()
    ops.goto(live_server.url(None, "/ops/login"))
    ops.get_by_label("Email").fill(operator.email)
    ops.get_by_label("Password").fill(PASSWORD)
    ops.get_by_role("button", name="Continue").click()
    ops.get_by_label("Code from your authenticator app").fill(operator.code())
    ops.get_by_role("button", name="Sign in").click()
    ops.wait_for_url("**/ops/tenants")
    ops.goto(live_server.url(None, f"/ops/tenants/{clinic.id}"))
    check(ops, "ops-clinic")
    ops.get_by_role("link", name="See the clinic's console information").click()
    expect(ops.get_by_role("heading", level=1)).to_contain_text("console information")
    expect(ops.locator("table").first).to_contain_text(owner.email)
    check(ops, "ops-view")

    console.get_by_role("button", name="End support access now").click()
    expect(console.get_by_text("Support access is off.")).to_be_visible()
    expect(console.locator("[data-support-access]")).to_have_count(0)
    ops.reload()
    expect(ops.locator("[data-support-refused]")).to_be_visible()
    check(ops, "ops-refused")

    console.get_by_label("1 hour", exact=True).check()
    console.get_by_role("button", name="Allow support access").click()
    expect(console.locator("[data-support-active]")).to_be_visible()
    ops.reload()
    expect(ops.locator("[data-support-until]")).to_be_visible()
    with psycopg.connect(owner_dsn) as conn:  # the hour has passed, by the database clock
        conn.execute("SET row_security = off")
        conn.execute(
            "UPDATE support_grants SET expires_at = now() - interval '1 second' "
            "WHERE tenant_id = %s AND revoked_at IS NULL",
            (clinic.id,),
        )
    ops.reload()
    expect(ops.locator("[data-support-refused]")).to_be_visible()
    console.reload()
    expect(console.get_by_text("Support access is off.")).to_be_visible()

    # the health page's new figures, and the owner's closing page (with its error summary)
    ops.get_by_role("link", name="Health").click()
    expect(ops.locator('[data-webhooks="backlog"]')).to_be_visible()
    check(ops, "ops-health")
    console.goto(live_server.url(clinic.slug, "/console/closing"))
    check(console, "console-closing")
    console.get_by_role("button", name="Close the clinic").click()
    expect(console.locator(".error-summary")).to_contain_text("Enter the reason")
    check(console, "console-closing-error")
    # the whole clinic's export: its form and error summary
    console.goto(live_server.url(clinic.slug, "/console/clinic-export"))
    check(console, "console-clinic-export")
    console.get_by_role("button", name="Prepare the export").click()
    expect(console.locator(".error-summary")).to_contain_text("Enter your password")
    check(console, "console-clinic-export-error")
    assert not problems, problems
