"""Property: over random schedules stored in Postgres, the API's slots and bookings agree.

For each example a clinic's hours, time off, closures, rules and existing appointments are
rewritten (as the owner, quickly), then through the API: every returned slot is free of
appointments, buffers, time off and closures, booking a random returned slot succeeds, and
booking a random start that was *not* returned is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from tests.scheduling.conftest import check

#: Background threads of session fixtures touch the global ``random`` while examples are drawn.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/New_York"]


@st.composite
def calendars(draw):
    """Random weekly hours, time off, a closure, busy times, buffers and a slot step."""
    windows, used = [], set()
    for weekday in range(1, 8):
        start = draw(st.integers(6 * 2, 14 * 2)) * 30
        end = start + draw(st.integers(2, 16)) * 30
        windows.append((weekday, start, min(end, 23 * 60)))
        used.add(weekday)
    busy = draw(
        st.lists(st.tuples(st.integers(0, 2), st.integers(6 * 4, 20 * 4)), max_size=6)
    )  # day, quarter
    time_off = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(6 * 4, 20 * 4), st.integers(1, 12)), max_size=2
        )
    )
    closed_day = draw(st.one_of(st.none(), st.integers(0, 2)))
    return {
        "zone": draw(st.sampled_from(ZONES)),
        "windows": windows,
        "busy": busy,
        "time_off": time_off,
        "closed_day": closed_day,
        "duration": draw(st.sampled_from([30, 45, 60, 90])),
        "before": draw(st.sampled_from([0, 10])),
        "after": draw(st.sampled_from([0, 10, 15])),
        "step": draw(st.sampled_from([15, 30])),
    }


@pytest.fixture
def clinics(make_practice, make_patient):
    """One configured practice per zone (reused across examples), with a few patients.

    Made before the examples run: Hypothesis seeds the global ``random`` inside examples,
    which would give every signup the same client address (and hit the signup rate limit).
    """
    made = {}
    for zone in ZONES:
        p = make_practice(zone, windows=[(1, "09:00", "10:00")])
        made[zone] = (p, [make_patient(p.clinic, f"Pat {n}") for n in range(8)])
    return made.__getitem__


def _reset(sql, p, cal, patients):
    """Rewrite the practice's calendar for one example (owner connection, RLS off)."""
    tid = p.clinic.id
    for table in (
        "appointment_events",
        "appointments",
        "availability_rules",
        "availability_exceptions",
        "closures",
    ):
        sql(f"DELETE FROM {table} WHERE tenant_id = %s", tid)
    sql(
        "UPDATE visit_types SET duration_minutes = %s, buffer_before_minutes = %s, "
        "buffer_after_minutes = %s "
        "WHERE tenant_id = %s",
        cal["duration"],
        cal["before"],
        cal["after"],
        tid,
    )
    sql(
        "UPDATE booking_rules SET slot_step_minutes = %s, min_notice_minutes = 60 WHERE tenant_id "
        "= %s "
        "AND service_id IS NULL",
        cal["step"],
        tid,
    )
    pid, lid, sid = (uuid.UUID(x) for x in (p.practitioner_id, p.location_id, p.service_id))
    for weekday, start, end in cal["windows"]:
        sql(
            "INSERT INTO availability_rules (tenant_id, id, practitioner_id, location_id, "
            "weekday, start_time, end_time)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            tid,
            uuid.uuid4(),
            pid,
            lid,
            weekday,
            dt.time(start // 60, start % 60),
            dt.time(end // 60, end % 60),
        )
    base = p.day(2)
    for n, (day, quarter) in enumerate(cal["busy"]):
        start = p.at(
            base + dt.timedelta(days=day), f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"
        ).astimezone(dt.UTC)
        end = start + dt.timedelta(minutes=45)
        try:
            sql(
                "INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, "
                "location_id, service_id, status,"
                " start_at, end_at, buffer_after_minutes, occupied, currency, booked_by) VALUES "
                "(%s, %s, %s, %s, %s, "
                "%s, 'confirmed', %s, %s, 10, tstzrange(%s, %s), 'EUR', 'staff')",
                tid,
                uuid.uuid4(),
                patients[n % 7].id,
                pid,
                lid,
                sid,
                start,
                end,
                start,
                end + dt.timedelta(minutes=10),
            )
        except Exception:  # noqa: BLE001 - an overlapping random appointment: the database refused it
            pass
    for day, quarter, length in cal["time_off"]:
        start = p.at(
            base + dt.timedelta(days=day), f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"
        ).astimezone(dt.UTC)
        sql(
            "INSERT INTO availability_exceptions (tenant_id, id, practitioner_id, kind, "
            "starts_at, ends_at) "
            "VALUES (%s, %s, %s, 'time_off', %s, %s)",
            tid,
            uuid.uuid4(),
            pid,
            start,
            start + dt.timedelta(minutes=30 * length),
        )
    if cal["closed_day"] is not None:
        d = base + dt.timedelta(days=cal["closed_day"])
        sql(
            "INSERT INTO closures (tenant_id, id, name, start_date, end_date) VALUES (%s, %s, "
            "'Holiday', %s, %s)",
            tid,
            uuid.uuid4(),
            d,
            d,
        )
    return base


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cal=calendars(), data=st.data())
def test_returned_slots_book_and_others_do_not(clinics, sql, cal, data):
    """Any returned slot books (201); a grid start that was not returned is refused (4xx)."""
    p, patients = clinics(cal["zone"])
    base = _reset(sql, p, cal, patients)
    last = base + dt.timedelta(days=2)
    starts = p.slots(**{"from": base.isoformat(), "to": last.isoformat()})
    blocks = sql(
        "SELECT lower(occupied), upper(occupied) FROM appointments WHERE tenant_id = %s "
        "AND status = 'confirmed'",
        p.clinic.id,
    )
    blocks += sql(
        "SELECT starts_at, ends_at FROM availability_exceptions WHERE tenant_id = %s", p.clinic.id
    )
    if cal["closed_day"] is not None:
        d = base + dt.timedelta(days=cal["closed_day"])
        blocks.append((p.at(d, "00:00"), p.at(d + dt.timedelta(days=1), "00:00")))
    before, after = dt.timedelta(minutes=cal["before"]), dt.timedelta(minutes=cal["after"])
    duration = dt.timedelta(minutes=cal["duration"])
    for s in starts:
        t = dt.datetime.fromisoformat(s).astimezone(dt.UTC)
        assert not any(
            t - before < b_end and t + duration + after > b_start for b_start, b_end in blocks
        ), s
    booker = patients[7]
    note(f"{len(starts)} starts offered")
    event("some starts offered" if starts else "no start offered")
    if starts:
        chosen = data.draw(st.sampled_from(starts))
        made = check(
            p.owner.post(
                "/api/v1/appointments",
                p.booking(dt.datetime.fromisoformat(chosen)),
                token=booker.token,
            ),
            201,
        )
        assert made["start"] == chosen
        assert chosen not in p.slots(**{"from": base.isoformat(), "to": last.isoformat()})
    # a start on the step grid that was not offered must be refused
    day = base + dt.timedelta(days=data.draw(st.integers(0, 2)))
    minute = data.draw(st.integers(0, (24 * 60 - 1) // cal["step"])) * cal["step"]
    candidate = p.at(day, f"{minute // 60:02d}:{minute % 60:02d}")
    if candidate.isoformat() not in starts:
        other = patients[6]
        resp = p.owner.post("/api/v1/appointments", p.booking(candidate), token=other.token)
        assert resp.status_code in (409, 422), (candidate, resp.get_json())
