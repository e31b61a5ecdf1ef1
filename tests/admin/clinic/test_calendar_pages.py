"""The console calendar: day and week views, appointment details, actions, cancel, reschedule.

Every page is requested by each staff role and with another clinic's ids (404), through the
Flask test client signed in with password and TOTP as a browser would.
"""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest

from tests.client import new_client
from tests.factories import PASSWORD, AppointmentFactory, PracticeFactory, StaffFactory
from tests.factories.base import current_app
from tests.helpers import csrf_from

ROLES = ("owner", "admin", "practitioner", "receptionist")


class Console:
    """A browser-like client of one clinic's console, signed in as one staff member."""

    def __init__(self, clinic, role: str):
        self.clinic = clinic
        self.member = StaffFactory(clinic=clinic, role=role)
        self.client = new_client(current_app())
        self.base = f"http://{clinic.host}"
        self.form("/login", {"email": self.member.email, "password": PASSWORD})
        done = self.form("/login/mfa", {"code": pyotp.TOTP(self.member.totp_secret).now()})
        assert done.status_code == 302, done.status_code

    def get(self, path: str, **kw):
        return self.client.get(path, base_url=self.base, **kw)

    def text(self, path: str, status: int = 200) -> str:
        resp = self.get(path)
        assert resp.status_code == status, (path, resp.status_code)
        return resp.get_data(as_text=True)

    def post(self, path: str, data: dict, *, token_from: str | None = None):
        page = self.get(token_from or path)
        token = csrf_from(page.data) if page.status_code == 200 else self.token()
        return self.client.post(path, data={**data, "csrf_token": token}, base_url=self.base)

    def form(self, path: str, data: dict):
        return self.post(path, data)

    def token(self) -> str:
        return csrf_from(self.get("/console/calendar/day").data)

    def follow(self, resp) -> str:
        assert resp.status_code == 302, (resp.status_code, resp.get_data(as_text=True)[:500])
        return self.text(resp.location)


def console(clinic, role: str = "receptionist") -> Console:
    """Sign a new ``role`` member of ``clinic`` in to the console."""
    return Console(clinic, role)


@pytest.fixture
def practice(app):
    """A Berlin practice with two practitioners (both offering the visit type)."""
    return PracticeFactory(colleagues=[{"display_name": "Dr. Jonas Brandt"}])


def test_day_view_draws_each_practitioner_column_with_visits_in_clinic_time(practice):
    """Columns per practitioner, visits placed on the rows of their local time, zone named."""
    day = practice.day(2)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "11:00"))
    page = console(practice.clinic).text(f"/console/calendar/day?date={day.isoformat()}")
    assert "Dr. Anna Weber" in page and "Dr. Jonas Brandt" in page
    assert "Times in Europe/Berlin" in page
    assert "11:00–12:00" in page and booking.patient.full_name in page
    # 07:00 is the first row: 11:00 is row 1 + 4 h x 12 rows
    link = re.search(
        rf'<a class="appt st-confirmed lane-1 rs-(\d+) re-(\d+)" href="[^"]*{booking.id}', page
    )
    assert link and link.groups() == ("49", "61"), link


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_day_week_details_and_my_day(practice, role):
    """All four roles read the calendar pages; each shows the booking in clinic time."""
    day = practice.day(2)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    desk = console(practice.clinic, role)
    name = booking.patient.full_name
    assert name in desk.text(f"/console/calendar/day?date={day}")
    week = desk.text(f"/console/calendar/week?date={day}")
    assert name in week and week.count('<section class="cal-day') == 7
    details = desk.text(f"/console/calendar/appointments/{booking.id}")
    assert name in details and "10:00–11:00 CE" in details and "Follow-up consultation" in details
    # a visit in two days: cancel and reschedule are allowed, check-in is not yet
    assert f"/appointments/{booking.id}/cancel" in details
    assert f"/appointments/{booking.id}/reschedule" in details
    assert f"/appointments/{booking.id}/check-in" not in details
    mine = desk.text(f"/console/calendar/my-day?date={day}")
    assert "not linked to a practitioner" in mine and name not in mine


def test_another_clinics_appointment_is_404_on_every_page_and_action(practice, sql):
    """Clinic B's staff get 404 for A's appointment on every page and action; nothing changes."""
    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(2), "10:00"))
    other = console(PracticeFactory().clinic, "owner")
    base = f"/console/calendar/appointments/{booking.id}"
    for path in (base, f"{base}/cancel", f"{base}/reschedule"):
        assert other.get(path).status_code == 404, path
    token = other.token()
    for path, data in (
        (f"{base}/check-in", {}),
        (f"{base}/complete", {}),
        (f"{base}/no-show", {}),
        (f"{base}/confirm", {}),
        (f"{base}/cancel", {"reason": "x"}),
        (f"{base}/reschedule", {"slot": "x"}),
    ):
        resp = other.client.post(path, data={**data, "csrf_token": token}, base_url=other.base)
        assert resp.status_code == 404, path
    assert booking.patient.full_name not in other.text(
        f"/console/calendar/day?date={practice.day(2)}"
    )
    assert sql("SELECT status FROM appointments WHERE id = %s", booking.id) == [("confirmed",)]


def test_anonymous_is_sent_to_sign_in(practice):
    """Calendar pages need a signed-in staff member."""
    client = new_client(current_app())
    for path in (
        "/console/calendar/day",
        "/console/calendar/week",
        "/console/calendar/book",
        "/console/calendar/changes",
        "/console/calendar/my-day",
    ):
        resp = client.get(path, base_url=f"http://{practice.clinic.host}")
        assert resp.status_code == 302 and "/login" in resp.location, path


def _start_now(sql, appointment_id, minutes_ago=5):
    sql(
        "UPDATE appointments SET start_at = now() - %s * interval '1 minute', "
        "end_at = now() + interval '55 minutes', "
        "occupied = tstzrange(now() - %s * interval '1 minute', now() + interval '55 minutes') "
        "WHERE id = %s",
        minutes_ago,
        minutes_ago,
        appointment_id,
    )


def test_details_offer_exactly_the_allowed_actions_past_and_future(practice, sql):
    """A started visit offers check-in, seen and no-show but no cancel or reschedule."""
    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(2), "10:00"))
    _start_now(sql, booking.id)
    desk = console(practice.clinic)
    base = f"/console/calendar/appointments/{booking.id}"
    page = desk.text(base)
    for action in ("check-in", "complete", "no-show"):
        assert f"{base}/{action}" in page
    assert f"{base}/cancel" not in page and f"{base}/reschedule" not in page
    # the cancel page itself refuses a started visit
    assert "can no longer be cancelled" in desk.follow(desk.get(f"{base}/cancel"))
    done = desk.follow(desk.post(f"{base}/check-in", {}, token_from=base))
    assert "Appointment checked in." in done
    assert sql("SELECT status FROM appointments WHERE id = %s", booking.id) == [("checked_in",)]
    assert f"{base}/complete" in done and f"{base}/check-in" not in done
    # a stale button (checked in already) is refused with a message, nothing changes
    again = desk.follow(desk.post(f"{base}/no-show", {}, token_from=base))
    assert "cannot be changed this way" in again
    assert sql("SELECT status FROM appointments WHERE id = %s", booking.id) == [("checked_in",)]


def test_cancel_needs_a_reason_and_keeps_the_input(practice, sql):
    """No reason: 422 with the error summary and nothing changed; with one: cancelled, audited."""
    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(3), "10:00"))
    desk = console(practice.clinic, "receptionist")
    path = f"/console/calendar/appointments/{booking.id}/cancel"
    page = desk.text(path)
    assert "no fee applies" in page and "charge_fee" not in page
    bad = desk.post(path, {"reason": "  "})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "There is a problem" in body and 'href="#reason"' in body and "Enter a reason." in body
    assert sql("SELECT status FROM appointments WHERE id = %s", booking.id) == [("confirmed",)]
    done = desk.follow(desk.post(path, {"reason": "Patient called: travelling"}))
    assert "Appointment cancelled" in done
    row = sql("SELECT status, cancelled_by, fee_minor FROM appointments WHERE id = %s", booking.id)
    assert row == [("cancelled", "staff", 0)]
    events = sql(
        "SELECT action, actor_kind FROM appointment_events WHERE appointment_id = %s "
        "ORDER BY created_at DESC LIMIT 1",
        booking.id,
    )
    assert events == [("cancelled", "staff")]


def test_late_cancellation_shows_the_fee_and_charges_it_when_ticked(app, sql):
    """Inside the cutoff the page names the fee; ticking the box records it on the visit."""
    p = PracticeFactory(
        rules={"late_cancellation_fee_minor": 2500, "cancellation_cutoff_minutes": 48 * 60}
    )
    booking = AppointmentFactory(practice=p, start=p.at(p.day(1), "15:00"))
    desk = console(p.clinic, "admin")
    path = f"/console/calendar/appointments/{booking.id}/cancel"
    page = desk.text(path)
    assert "Late cancellation" in page and "€25" in page
    done = desk.follow(desk.post(path, {"reason": "No call, no show up", "charge_fee": "y"}))
    assert "late-cancellation fee of €25 was recorded" in done
    assert sql("SELECT status, fee_minor FROM appointments WHERE id = %s", booking.id) == [
        ("cancelled", 2500)
    ]


def test_reschedule_lists_free_slots_and_moves_the_visit(practice, sql):
    """Free times come from the slot engine (own time not busy); choosing one moves the visit."""
    day = practice.day(3)
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    AppointmentFactory(practice=practice, start=practice.at(day, "12:00"))  # 12:00 is taken
    desk = console(practice.clinic, "practitioner")
    path = f"/console/calendar/appointments/{booking.id}/reschedule"
    page = desk.text(f"{path}?date={day}&practitioner={practice.practitioner_id}")
    values = re.findall(r'name="slot" value="([^"]+)"', page)
    starts = [v.split("|")[0] for v in values]
    assert practice.at(day, "10:00").isoformat() in starts  # its own time is free for it
    assert practice.at(day, "12:00").isoformat() not in starts
    assert practice.at(day, "14:30").isoformat() in starts
    choice = next(v for v in values if v.startswith(practice.at(day, "14:30").isoformat()))
    moved = desk.follow(desk.post(path, {"slot": choice}))
    assert "Appointment moved to" in moved and "14:30–15:30" in moved
    start = sql("SELECT start_at FROM appointments WHERE id = %s", booking.id)[0][0]
    assert start == practice.at(day, "14:30")
    # a taken or invented time is refused with the engine's reason and changes nothing
    taken = (
        f"{practice.at(day, '12:00').isoformat()}|{practice.practitioner_id}|{practice.location_id}"
    )
    resp = desk.post(path, {"slot": taken})
    assert resp.status_code == 422 and "just taken" in resp.get_data(as_text=True)
    assert desk.post(path, {"slot": "tomorrow|x|y"}).status_code == 422
    assert sql("SELECT start_at FROM appointments WHERE id = %s", booking.id)[0][0] == practice.at(
        day, "14:30"
    )


def test_dst_days_are_drawn_23_and_25_hours_long(app):
    """Berlin's spring-forward day has no 02:00 row; the fall-back day shows 02:00 twice."""
    p = PracticeFactory(tz="Europe/Berlin")
    desk = console(p.clinic)
    spring = desk.text("/console/calendar/day?date=2026-03-29&whole=1")
    assert "has 23 hours" in spring
    hours = re.findall(r'class="cal-hour rs-(\d+) re-\d+">([^<]+)<', spring)
    labels = [h[1] for h in hours]
    assert labels[:3] == ["00:00", "01:00", "03:00"] and len(labels) == 23
    autumn = desk.text("/console/calendar/day?date=2026-10-25&whole=1")
    labels = [h[1] for h in re.findall(r'class="cal-hour rs-(\d+) re-\d+">([^<]+)<', autumn)]
    assert "has 25 hours" in autumn and len(labels) == 25
    assert labels[2:4] == ["02:00 CEST", "02:00 CET"]
    week = desk.text("/console/calendar/week?date=2026-10-21")
    assert "25 h</span>" in week


def test_working_hours_time_off_and_closures_are_shaded(practice):
    """Working hours, a closure (with its name) and time off are drawn in the columns."""
    day = practice.day(4)
    owner = practice.owner
    r = owner.post(
        "/api/v1/practice/closures",
        {"name": "Staff training", "start_date": day.isoformat(), "end_date": day.isoformat()},
    )
    assert r.status_code == 201, r.get_json()
    desk = console(practice.clinic)
    page = desk.text(f"/console/calendar/day?date={day}")
    assert "Closed: Staff training" in page
    normal = desk.text(f"/console/calendar/day?date={practice.day(5)}")
    # 09:00-17:00 working hours from 07:00: rows 25 to 121
    assert 'class="shade sh-work rs-25 re-121"' in normal


def test_week_view_columns_can_be_chosen(practice):
    """``?p=<id>`` keeps only the chosen practitioners' columns."""
    desk = console(practice.clinic)
    page = desk.text(f"/console/calendar/week?date={practice.day(1)}&p={practice.practitioner_id}")
    assert page.count('<h3 class="cal-head"') == 7
    assert "Dr. Jonas Brandt</h3>" not in page
    both = desk.text(f"/console/calendar/week?date={practice.day(1)}")
    assert both.count('<h3 class="cal-head"') == 14


def test_grid_stylesheet_is_generated_from_the_layout():
    """``static/calendar-rows.css`` holds a class for every row a 25-hour day needs."""
    from pathlib import Path

    from admin.clinic.appointments import grid

    css = Path(grid.__file__).parent / "static" / "calendar-rows.css"
    assert css.read_text() == grid.grid_css(), "regenerate with grid.grid_css()"


def test_change_feed_answers_304_until_the_schedule_changes(practice):
    """The calendar's ETag: 304 while unchanged; a booking by a patient changes it."""
    desk = console(practice.clinic, "practitioner")
    first = desk.get("/console/calendar/changes")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.get_json()["version"] == etag.strip('"')
    page = desk.get("/console/calendar/day")
    assert f'data-version="{etag.strip(chr(34))}"' in page.get_data(as_text=True)
    same = desk.get("/console/calendar/changes", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b""
    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(2), "10:00"))
    changed = desk.get("/console/calendar/changes", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    etag = changed.headers["ETag"]
    assert desk.get("/console/calendar/changes", headers={"If-None-Match": etag}).status_code == 304
    # a cancellation (an update, not a new row) changes it too
    path = f"/console/calendar/appointments/{booking.id}/cancel"
    desk.follow(desk.post(path, {"reason": "Moved away"}))
    assert desk.get("/console/calendar/changes", headers={"If-None-Match": etag}).status_code == 200


def test_change_feed_is_per_clinic(practice):
    """Another clinic's bookings do not change this clinic's version."""
    desk = console(practice.clinic)
    etag = desk.get("/console/calendar/changes").headers["ETag"]
    AppointmentFactory()  # in a new clinic
    assert desk.get("/console/calendar/changes", headers={"If-None-Match": etag}).status_code == 304


def test_my_day_lists_only_the_practitioners_own_visits(app, sql):
    """A practitioner linked to a profile sees their own consultations, with their actions."""
    clinic_practice = PracticeFactory(colleagues=[{"display_name": "Dr. Jonas Brandt"}])
    desk = console(clinic_practice.clinic, "practitioner")
    sql(
        "UPDATE practitioners SET user_id = %s WHERE id = %s",
        desk.member.id,
        clinic_practice.practitioner_id,
    )
    day = clinic_practice.day(2)
    mine = AppointmentFactory(practice=clinic_practice, start=clinic_practice.at(day, "09:00"))
    # the colleague's visit at the same time is booked through the staff API
    r = clinic_practice.owner.post(
        "/api/v1/appointments",
        {
            **clinic_practice.booking(clinic_practice.at(day, "09:00")),
            "practitioner_id": clinic_practice.extra["colleague_ids"][0],
            "patient_id": str(
                AppointmentFactory(
                    practice=clinic_practice, start=clinic_practice.at(day, "15:00")
                ).patient.id
            ),
        },
    )
    assert r.status_code == 201, r.get_json()
    page = desk.text(f"/console/calendar/my-day?date={day}")
    assert mine.patient.full_name in page and "09:00–10:00" in page
    assert (
        page.count("/console/calendar/appointments/") == 2
    )  # 09:00 and 15:00, not the colleague's
    assert "My day" in page
    assert f"/appointments/{mine.id}/check-in" not in page  # in two days: too early
    # once the visit is starting, my day offers check-in, and acting returns to my day
    _start_now(sql, mine.id)
    today = dt.datetime.now(clinic_practice.zone).date()
    now_page = desk.text(f"/console/calendar/my-day?date={today}")
    assert f"/appointments/{mine.id}/check-in" in now_page
    resp = desk.post(
        f"/console/calendar/appointments/{mine.id}/check-in",
        {"next": f"/console/calendar/my-day?date={today}"},
        token_from=f"/console/calendar/my-day?date={today}",
    )
    assert resp.status_code == 302 and "/console/calendar/my-day" in resp.location
    assert "Appointment checked in." in desk.text(resp.location)
    # an offsite "next" is ignored
    off = desk.post(
        f"/console/calendar/appointments/{mine.id}/complete",
        {"next": "https://evil.example/"},
        token_from=f"/console/calendar/my-day?date={today}",
    )
    assert off.location.endswith(f"/console/calendar/appointments/{mine.id}")


def test_schedule_version_without_counters_follows_recent_changes(practice, sql):
    """Once a transaction wrote, the version comes from recent ``updated_at`` values instead."""
    from sqlalchemy import false, update

    from admin.clinic.appointments.queries import schedule_version
    from saas.db import tenant_session
    from saas.scheduling.models import Appointment

    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(2), "10:00"))

    def fallback() -> str:
        with current_app().app_context(), tenant_session(practice.clinic.id) as sess:
            assert schedule_version(sess, practice.clinic.id).startswith("c")
            sess.execute(update(Appointment).where(false()).values(fee_minor=0))  # a write
            return schedule_version(sess, practice.clinic.id)

    first = fallback()
    assert first.startswith("r") and first == fallback()
    sql("UPDATE appointments SET updated_at = now() WHERE id = %s", booking.id)
    assert fallback() != first


def set_states(sql, practice, day) -> dict:
    """Six visits on ``day`` (10:00 to 15:00), one in each state the calendar draws."""
    states = {}
    for hour, state in zip(
        range(10, 16),
        ("held", "confirmed", "checked_in", "completed", "no_show", "cancelled"),
        strict=True,
    ):
        booking = AppointmentFactory(practice=practice, start=practice.at(day, f"{hour}:00"))
        sql(
            "UPDATE appointments SET status = %s, hold_expires_at = CASE WHEN %s = 'held' "
            "THEN now() + interval '1 hour' END WHERE id = %s",
            state,
            state,
            booking.id,
        )
        states[state] = booking
    return states


def test_each_state_is_told_apart_by_label_and_class(practice, sql):
    """Held, confirmed, checked in, completed, no-show and cancelled: a label and a pattern each."""
    day = practice.day(2)
    states = set_states(sql, practice, day)
    page = console(practice.clinic).text(f"/console/calendar/day?date={day}")
    labels = {
        "held": "Held",
        "confirmed": "Confirmed",
        "checked_in": "Checked in",
        "completed": "Completed",
        "no_show": "No-show",
        "cancelled": "Cancelled",
    }
    for state, booking in states.items():
        block = re.search(
            rf'<a class="appt st-{state} [^"]*" href="[^"]*{booking.id}.*?</a>', page, re.S
        )
        assert block, state
        assert f'<span class="st-label">{labels[state]}</span>' in block.group(0)
    # only held and confirmed visits can be dragged to a new time
    assert page.count('draggable="true"') == 2
