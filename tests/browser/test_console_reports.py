"""Report pages, the audit log and the notification log pass axe (no serious or critical).

Each page is screenshotted into ``tests/artifacts/``.
"""

from __future__ import annotations

import pytest

from tests.factories import AppointmentFactory, PracticeFactory, StaffFactory

from .conftest import DESKTOP
from .test_console_a11y import _violations

pytestmark = pytest.mark.browser


def test_report_and_log_pages_pass_axe(app, live_server, new_page, screenshot):
    practice = PracticeFactory()
    AppointmentFactory(practice=practice, start=practice.at(practice.day(2), "11:00"))
    admin = StaffFactory(clinic=practice.clinic, role="admin")
    pg = new_page(DESKTOP)
    pg.goto(live_server.url(practice.clinic.slug, "/login"))
    pg.get_by_label("Email").fill(admin.email)
    pg.get_by_label("Password").fill(admin.password)
    pg.get_by_role("button", name="Continue").click()
    pg.get_by_label("Code from your authenticator app").fill(admin.code())
    pg.get_by_role("button", name="Verify").click()
    pg.wait_for_url("**/console/")
    slugs = (
        "appointments",
        "no-shows",
        "utilisation",
        "patients",
        "cancellations",
        "follow-ups",
        "revenue",
    )
    pages = {
        "reports": "/console/reports/",
        "audit": "/console/audit",
        "notifications": "/console/notifications/",
    }
    pages.update({f"report-{s}": f"/console/reports/{s}" for s in slugs})
    found = {}
    for name, path in pages.items():
        pg.goto(live_server.url(practice.clinic.slug, path))
        assert "/login" not in pg.url, pg.url
        screenshot(pg, f"console-{name}")
        if problems := _violations(pg):
            found[name] = problems
    assert found == {}
