"""Message previews and practitioners' notification emails, in the browser.

The preview list and a reminder's preview (German, chosen with the page's plain form), the
practitioner's page with its two email checkboxes, and a practitioner's own "My
notifications": each checked with axe-core at 360 px and 1280 px (no serious or critical
violation) and screenshotted into ``tests/artifacts/``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PracticeFactory, StaffFactory
from tests.scheduling.conftest import check

from .conftest import DESKTOP
from .test_console_setup import NARROW, _sign_in, _violations

pytestmark = pytest.mark.browser


def _practice():
    p = PracticeFactory(
        tz="Europe/Berlin",
        rules={"cancellation_cutoff_minutes": 1440, "late_cancellation_fee_minor": 2500},
    )
    check(p.owner.send("PATCH", "/api/v1/settings/branding", {"brand_color": "#7a1f5c"}), 200)
    return p


def _both_widths(pg, screenshot, name: str, *, framed: str | None = None) -> None:
    """Axe and a screenshot at each width (the page reloaded: a framed email repaints)."""
    for label, size in (("360", NARROW), ("1280", DESKTOP)):
        pg.set_viewport_size(size)
        pg.reload()
        if framed:
            expect(pg.frame_locator("iframe.message-frame").get_by_text(framed)).to_be_visible()
        assert _violations(pg) == [], (name, label)
        screenshot(pg, f"{name}-{label}")
        if framed:
            # the sandboxed frame paints in its own process, and only once scrolled into view
            # (a full-page capture leaves it blank below the fold): a shot of it on screen too
            pg.locator("iframe.message-frame").scroll_into_view_if_needed()
            pg.wait_for_timeout(1000)
            screenshot(pg, f"{name}-{label}-email", full_page=False)


def test_preview_shows_the_reminder_in_german_in_the_clinics_branding(
    app, new_page, live_server, screenshot
):
    p = _practice()
    admin = StaffFactory(clinic=p.clinic, role="admin")
    pg = new_page()
    _sign_in(pg, live_server, admin)
    pg.goto(live_server.url(p.clinic.slug, "/console/practice/"))
    pg.get_by_role("link", name="Messages to patients: previews").click()
    expect(pg.get_by_role("heading", level=1)).to_have_text(
        "Messages patients and practitioners get"
    )
    _both_widths(pg, screenshot, "notify-01-message-list")
    pg.get_by_role("link", name="Reminder (email and SMS)").click()
    pg.get_by_label("Language").select_option("de")
    pg.get_by_role("button", name="Show").click()
    expect(pg.locator("[data-subject]")).to_contain_text("Erinnerung")
    frame = pg.frame_locator("iframe.message-frame")
    expect(frame.get_by_text("Hallo Alex Example,")).to_be_visible()
    header = frame.get_by_text(p.clinic.name, exact=True).first
    expect(header).to_have_css("background-color", "rgb(122, 31, 92)")
    # the text goes in the patient's language, as the email
    expect(pg.locator("[data-sms]")).to_contain_text("Verlegen oder stornieren:")
    expect(pg.locator("[data-segments]")).to_contain_text("segment")
    _both_widths(pg, screenshot, "notify-02-reminder-preview-de", framed="Hallo Alex Example,")


def test_practitioner_emails_are_set_on_the_practitioner_page_and_by_themselves(
    app, new_page, live_server, screenshot
):
    p = _practice()
    admin = StaffFactory(clinic=p.clinic, role="admin")
    member = StaffFactory(clinic=p.clinic, role="practitioner", name="Anna Weber")
    check(
        p.owner.patch(
            f"/api/v1/practice/practitioners/{p.practitioner_id}", {"user_id": str(member.id)}
        ),
        200,
    )
    pg = new_page()
    _sign_in(pg, live_server, admin)
    pg.goto(live_server.url(p.clinic.slug, f"/console/practice/practitioners/{p.practitioner_id}"))
    _both_widths(pg, screenshot, "notify-03-practitioner-edit")
    alerts, agenda = pg.get_by_label("Calendar alerts"), pg.get_by_label("Daily agenda")
    expect(alerts).to_be_checked()
    expect(agenda).not_to_be_checked()
    alerts.uncheck()
    agenda.check()
    pg.get_by_role("button", name="Save practitioner").click()
    expect(pg.get_by_role("status")).to_contain_text("Dr. Anna Weber saved.")

    own = new_page()
    _sign_in(own, live_server, member)
    own.goto(live_server.url(p.clinic.slug, "/console/account/security"))
    expect(own.get_by_role("heading", name="My notifications")).to_be_visible()
    expect(own.get_by_label("Calendar alerts")).not_to_be_checked()
    expect(own.get_by_label("Daily agenda")).to_be_checked()
    own.get_by_label("Calendar alerts").check()
    own.get_by_role("button", name="Save my notifications").click()
    expect(own.get_by_role("status")).to_contain_text("Your notification emails are saved.")
    expect(own.get_by_label("Calendar alerts")).to_be_checked()
    _both_widths(own, screenshot, "notify-04-my-notifications")
