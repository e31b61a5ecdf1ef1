"""The console pages pass axe-core (no serious or critical violations) at 360 px and desktop.

An admin of a clinic with a booked day signs in through the pages in headless Chromium;
each console page is checked with axe-core (``axe-playwright-python`` carries it) and
screenshotted into ``tests/artifacts/`` at both widths for a human to look at.
"""

from __future__ import annotations

import pytest

from tests.factories import AppointmentFactory, PracticeFactory, StaffFactory

from .conftest import DESKTOP

pytestmark = pytest.mark.browser

NARROW = {"width": 360, "height": 800}


def _violations(pg) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(pg)
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target'] if v['nodes'] else ''}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_console_pages_pass_axe_at_both_widths(app, live_server, new_page, screenshot):
    """Dashboard, day view (with bookings and their buttons), staff and audit log."""
    practice = PracticeFactory()
    day = practice.day(2)
    AppointmentFactory(practice=practice, start=practice.at(day, "11:00"))
    admin = StaffFactory(clinic=practice.clinic, role="admin")
    pg = new_page(NARROW)
    pg.goto(live_server.url(practice.clinic.slug, "/login"))
    pg.get_by_label("Email").fill(admin.email)
    pg.get_by_label("Password").fill(admin.password)
    pg.get_by_role("button", name="Continue").click()
    pg.get_by_label("Code from your authenticator app").fill(admin.code())
    pg.get_by_role("button", name="Verify").click()
    pg.wait_for_url("**/console/")
    pages = {
        "dashboard": "/console/",
        "day": f"/console/day/?date={day.isoformat()}",
        "staff": "/console/staff",
        "audit": "/console/audit",
    }
    found = {}
    for width, viewport in (("360", NARROW), ("desktop", DESKTOP)):
        pg.set_viewport_size(viewport)
        for name, path in pages.items():
            pg.goto(live_server.url(practice.clinic.slug, path))
            assert "/login" not in pg.url, pg.url
            screenshot(pg, f"console-{name}-{width}")
            if problems := _violations(pg):
                found[f"{name} at {width}"] = problems
    pg.goto(live_server.url(practice.clinic.slug, pages["day"]))
    assert "11:00" in pg.locator("table").inner_text()  # the day view showed the booking
    assert not found, found
