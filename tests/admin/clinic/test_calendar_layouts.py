"""The week view reuses its layout while the schedule is unchanged, and never shows a stale one.

The layout is kept per process under the clinic's schedule version, so the tests check the
three ways a copy must end: a booking (new version), a lapsing hold (its moment), and time.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from admin.clinic.appointments import calendar_views
from admin.clinic.appointments.queries import Visit
from saas.models import utcnow
from tests.factories import AppointmentFactory, PracticeFactory
from tests.factories.base import current_app
from tests.helpers import statements_during

from .test_calendar_pages import console


def test_the_second_view_reuses_the_layout_and_a_booking_ends_it(app):
    """Same week twice: no appointment query the second time; after a booking it is drawn."""
    practice = PracticeFactory()
    day = practice.day(2)
    week = f"/console/calendar/week?date={day.isoformat()}"
    desk = console(practice.clinic)
    first = desk.text(week)
    holder: dict = {}
    seen = statements_during(current_app(), lambda: holder.update(page=desk.text(week)))
    assert not [s for s in seen if "FROM appointments" in s], seen
    assert holder["page"].count('class="appt st-') == first.count('class="appt st-')
    booking = AppointmentFactory(practice=practice, start=practice.at(day, "11:00"))
    after = desk.text(week)
    assert booking.patient.full_name in after
    assert after.count('class="appt st-') == first.count('class="appt st-') + 1


def test_another_role_or_clinic_never_gets_the_layout_of_another(app):
    """The key holds the clinic and what the viewer may do (drag handles only for movers)."""
    practice = PracticeFactory()
    other = PracticeFactory()
    day = practice.day(2)
    AppointmentFactory(practice=practice, start=practice.at(day, "11:00"))
    week = f"/console/calendar/week?date={day.isoformat()}"
    desk = console(practice.clinic, "receptionist").text(week)
    assert 'draggable="true"' in desk
    theirs = console(other.clinic, "receptionist").text(week)
    assert 'class="appt st-' not in theirs


def test_a_lapsing_hold_or_the_time_limit_ends_a_copy():
    """A copy holding a hold that lapses at t is rebuilt after t, even with the same key."""
    calendar_views.clear_layouts()
    builds = []
    lapse = utcnow() + dt.timedelta(seconds=0.3)
    held = Visit(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "held", lapse, lapse, "P", "S")
    held.lapses_at = lapse

    def build():
        builds.append(1)
        return {"visits": [held]}

    key = ("clinic", "v1")
    calendar_views._laid_out(key, build)
    calendar_views._laid_out(key, build)
    assert len(builds) == 1
    time.sleep(0.4)
    calendar_views._laid_out(key, build)
    assert len(builds) == 2
    calendar_views.clear_layouts()
    calendar_views._laid_out(("clinic", "v2"), lambda: builds.append(1) or {"visits": []})
    assert len(builds) == 3
