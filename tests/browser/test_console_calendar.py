"""The console calendar in headless Chromium: book by phone, reschedule, cancel, live updates.

Also screenshots of the day and week views (``tests/artifacts/``) and axe-core on every
calendar page at 360 px and 1280 px (no serious or critical violations).
"""

from __future__ import annotations

import re

import pytest

from tests.admin.clinic.test_calendar_pages import set_states
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory, StaffFactory
from tests.helpers import drain, owner_sql

from .conftest import DESKTOP

pytestmark = pytest.mark.browser

NARROW = {"width": 360, "height": 800}
TABLET = {"width": 1024, "height": 768}


@pytest.fixture(autouse=True, scope="module")
def _outbox_drained_afterwards(worker):
    """The bookings here send messages: deliver them all before the next module runs.

    Otherwise the session's worker would still be relaying them during later tests (which
    count SQL statements or watch the random module).
    """
    yield
    drain(worker)


def click(locator) -> None:
    """Click and wait for the page it leads to to load (its stylesheets too)."""
    locator.click()
    locator.page.wait_for_load_state("load")


def _violations(pg) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(pg)
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target'] if v['nodes'] else ''}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sign_in(new_page, live_server, clinic, role="receptionist", viewport=None):
    """A page signed in to ``clinic``'s console as a new member with ``role``."""
    member = StaffFactory(clinic=clinic, role=role)
    pg = new_page(viewport or DESKTOP)
    pg.goto(live_server.url(clinic.slug, "/login"))
    pg.get_by_label("Email").fill(member.email)
    pg.get_by_label("Password").fill(member.password)
    click(pg.get_by_role("button", name="Continue"))
    pg.get_by_label("Code from your authenticator app").fill(member.code())
    click(pg.get_by_role("button", name="Verify"))
    pg.wait_for_url("**/console/")
    return pg


@pytest.fixture
def sql_rows(owner_dsn):
    """Run SQL as the database owner (RLS off)."""
    return owner_sql(owner_dsn)


@pytest.fixture
def practice(app):
    """A Berlin practice with two practitioners and a 48-hour cutoff with a €30 fee."""
    return PracticeFactory(
        colleagues=[{"display_name": "Dr. Jonas Brandt"}],
        rules={"late_cancellation_fee_minor": 3000, "cancellation_cutoff_minutes": 48 * 60},
    )


def test_book_a_phone_caller_and_see_it_on_the_calendar(
    app, live_server, new_page, practice, screenshot
):
    """Find the caller by phone, choose visit, any practitioner and a time, confirm."""
    PatientFactory(clinic=practice.clinic, full_name="Ravi Menon", phone="+49 171 5550123")
    pg = sign_in(new_page, live_server, practice.clinic)
    click(pg.get_by_role("link", name="Calendar").first)
    click(pg.get_by_role("link", name="Book by phone"))
    pg.get_by_label("Name, email or phone number").fill("0171 5550123")
    click(pg.get_by_role("button", name="Search"))
    click(pg.get_by_role("link", name="Book for Ravi Menon"))
    day = practice.day(2)
    pg.get_by_label("Visit type").select_option(value=practice.service_id)
    pg.get_by_label("Day", exact=True).fill(day.isoformat())
    click(pg.get_by_role("button", name="Show free times"))
    screenshot(pg, "calendar-book-times")
    pg.get_by_role("radio", name=re.compile(r"11:00–12:00 Dr\. Jonas Brandt")).check()
    click(pg.get_by_role("button", name="Continue"))
    assert "Dr. Jonas Brandt" in pg.locator("dl").inner_text()
    click(pg.get_by_role("button", name="Book appointment"))
    assert "Booked: Ravi Menon" in pg.locator(".flash").inner_text()
    pg.goto(live_server.url(practice.clinic.slug, f"/console/calendar/day?date={day}"))
    visit = pg.locator("a.appt", has_text="Ravi Menon")
    assert "11:00–12:00" in visit.inner_text()
    assert "Confirmed" in visit.text_content()


def test_reschedule_by_choosing_a_free_slot(app, live_server, new_page, practice):
    """From the calendar: open the visit, Reschedule, pick a free time, move it."""
    day = practice.day(3)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    pg = sign_in(new_page, live_server, practice.clinic, "practitioner")
    pg.goto(live_server.url(practice.clinic.slug, f"/console/calendar/day?date={day}"))
    click(pg.locator("a.appt", has_text=booking.patient.full_name))
    click(pg.get_by_role("link", name="Reschedule"))
    pg.get_by_label("Practitioner").select_option(label="Dr. Anna Weber")
    click(pg.get_by_role("button", name="Show free times"))
    pg.get_by_role("radio", name=re.compile(r"15:00–16:00 Dr\. Anna Weber")).check()
    click(pg.get_by_role("button", name="Move the appointment"))
    assert "Appointment moved to" in pg.locator(".flash").inner_text()
    assert "15:00–16:00" in pg.locator("dl").inner_text()


@pytest.mark.parametrize("late", [True, False], ids=["inside-cutoff", "outside-cutoff"])
def test_cancel_inside_and_outside_the_cutoff(app, live_server, new_page, practice, late, sql_rows):
    """Inside the cutoff the fee is offered and charged; outside no fee is mentioned."""
    day = practice.day(1 if late else 5)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "16:00"))
    pg = sign_in(new_page, live_server, practice.clinic, "admin")
    pg.goto(live_server.url(practice.clinic.slug, f"/console/calendar/appointments/{booking.id}"))
    click(pg.get_by_role("link", name="Cancel appointment"))
    click(pg.get_by_role("button", name="Cancel appointment"))  # no reason: refused
    assert "There is a problem" in pg.locator(".error-summary").inner_text()
    pg.get_by_label("Reason for the cancellation").fill("Patient is travelling")
    if late:
        assert "€30" in pg.locator("#late-notice").inner_text()
        pg.get_by_label(re.compile("Charge the late-cancellation fee")).check()
    else:
        assert "no fee applies" in pg.locator("#late-notice").inner_text()
        assert pg.get_by_label(re.compile("Charge the late-cancellation fee")).count() == 0
    click(pg.get_by_role("button", name="Cancel appointment"))
    flash = pg.locator(".flash").inner_text()
    assert "Appointment cancelled" in flash
    assert ("€30 was recorded" in flash) is late
    assert sql_rows("SELECT status, fee_minor FROM appointments WHERE id = %s", booking.id) == [
        ("cancelled", 3000 if late else 0)
    ]


def test_a_second_browser_sees_a_change_within_5_seconds(app, live_server, new_page, practice):
    """Context A has the calendar open; a booking elsewhere appears without a reload."""
    day = practice.day(2)
    watcher = sign_in(new_page, live_server, practice.clinic, "receptionist")
    watcher.goto(live_server.url(practice.clinic.slug, f"/console/calendar/week?date={day}"))
    watcher.evaluate("window.__notReloaded = true")
    assert watcher.locator("a.appt").count() == 0
    # a second staff member books by phone in another browser context
    desk = sign_in(new_page, live_server, practice.clinic, "owner")
    caller = PatientFactory(clinic=practice.clinic, full_name="Olga Novak")
    slot = (
        f"{practice.at(day, '13:00').isoformat()}|{practice.practitioner_id}|{practice.location_id}"
    )
    desk.goto(
        live_server.url(
            practice.clinic.slug,
            f"/console/calendar/book/confirm?patient={caller.id}&service={practice.service_id}"
            f"&slot={slot.replace('+', '%2B')}",
        )
    )
    click(desk.get_by_role("button", name="Book appointment"))
    assert "Booked: Olga Novak" in desk.locator(".flash").inner_text()
    watcher.locator("a.appt", has_text="Olga Novak").wait_for(timeout=5000)
    assert watcher.evaluate("window.__notReloaded") is True
    assert "Calendar updated" in watcher.locator("[data-live-status]").inner_text()
    # and a cancellation by the patient through the portal API shows as well
    AppointmentFactory(practice=practice, start=practice.at(day, "09:00"))
    watcher.locator("a.appt").nth(1).wait_for(timeout=5000)


def test_drag_a_visit_to_another_time_after_confirming(
    app, live_server, new_page, practice, sql_rows
):
    """Drag and drop moves a visit once the user confirms; dismissing changes nothing."""
    day = practice.day(3)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    pg = sign_in(new_page, live_server, practice.clinic, "receptionist")
    pg.goto(live_server.url(practice.clinic.slug, f"/console/calendar/day?date={day}"))
    visit = pg.locator("a.appt", has_text=booking.patient.full_name)
    column = pg.locator(f'[data-drop][data-practitioner="{practice.practitioner_id}"] .cal-body')
    box = column.bounding_box()
    rows = int(
        pg.locator(f'[data-drop][data-practitioner="{practice.practitioner_id}"]').get_attribute(
            "data-rows"
        )
    )
    # 14:00 is 7 hours after the 07:00 first row: 84 rows of 5 minutes
    target_y = box["height"] * (84 + 1) / rows
    questions = []
    pg.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    visit.drag_to(column, target_position={"x": box["width"] / 2, "y": target_y})
    assert questions and "14:00" in questions[0]
    pg.wait_for_timeout(300)
    assert sql_rows("SELECT start_at FROM appointments WHERE id = %s", booking.id)[0][
        0
    ] == practice.at(day, "10:00")
    pg.once("dialog", lambda d: d.accept())
    visit.drag_to(column, target_position={"x": box["width"] / 2, "y": target_y})
    pg.wait_for_url(re.compile(r"/appointments/"))
    pg.wait_for_load_state("load")
    assert "Appointment moved to" in pg.locator(".flash").inner_text()
    assert sql_rows("SELECT start_at FROM appointments WHERE id = %s", booking.id)[0][
        0
    ] == practice.at(day, "14:00")


def test_calendar_pages_pass_axe_and_are_screenshotted(
    app, live_server, new_page, practice, screenshot, sql_rows
):
    """Day, week, details, cancel, reschedule, booking steps and my day: axe at 360 and 1280 px."""
    day = practice.day(2)
    first = AppointmentFactory(practice=practice, start=practice.at(day, "16:00"))
    set_states(sql_rows, practice, day)  # 10:00-15:00: every state, for axe and the eye
    caller = PatientFactory(clinic=practice.clinic, full_name="Ravi Menon")
    pg = sign_in(new_page, live_server, practice.clinic, "owner", NARROW)
    slot = (
        f"{practice.at(day, '12:00').isoformat()}|{practice.practitioner_id}|{practice.location_id}"
    )
    pages = {
        "day": f"/console/calendar/day?date={day}",
        "week": f"/console/calendar/week?date={day}",
        "details": f"/console/calendar/appointments/{first.id}",
        "cancel": f"/console/calendar/appointments/{first.id}/cancel",
        "reschedule": f"/console/calendar/appointments/{first.id}/reschedule",
        "book": "/console/calendar/book?q=Ravi",
        "book-times": f"/console/calendar/book?patient={caller.id}&service={practice.service_id}&date={day}",
        "book-confirm": f"/console/calendar/book/confirm?patient={caller.id}&service={practice.service_id}&slot={slot.replace('+', '%2B')}",
        "my-day": f"/console/calendar/my-day?date={day}",
        "list": f"/console/day/?date={day}",
    }
    found = {}
    for width, viewport in (("360", NARROW), ("1024", TABLET), ("1280", DESKTOP)):
        pg.set_viewport_size(viewport)
        for name, path in pages.items():
            pg.goto(live_server.url(practice.clinic.slug, path))
            assert "/login" not in pg.url, pg.url
            screenshot(pg, f"calendar-{name}-{width}")
            if width != "1024" and (problems := _violations(pg)):
                found[f"{name} at {width}"] = problems
    # the week view scrolls inside its own named, focusable region on a phone
    pg.set_viewport_size(NARROW)
    pg.goto(live_server.url(practice.clinic.slug, pages["week"]))
    region = pg.get_by_role("region", name=re.compile("Calendar of the week"))
    assert region.get_attribute("tabindex") == "0"
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert not found, found
