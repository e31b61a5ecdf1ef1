"""``GET /api/v1/slots`` on the clinic's host: availability, blocking, policy, DST, limits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.scheduling.conftest import check


def _next_transition(tz: str, *, spring: bool, after_days: int = 2) -> dt.date:
    """The next local date (at least ``after_days`` ahead) whose UTC offset changes."""
    zone = ZoneInfo(tz)
    day = dt.datetime.now(zone).date() + dt.timedelta(days=after_days)
    for _ in range(400):
        before = dt.datetime.combine(day, dt.time(0, 0), zone).utcoffset()
        after = dt.datetime.combine(day, dt.time(12, 0), zone).utcoffset()
        if before != after and (after > before) == spring:
            return day
        day += dt.timedelta(days=1)
    raise AssertionError("no DST change within 400 days")


def test_slots_follow_weekly_hours(make_practice):
    """Starts step through the weekly window; the visit ends inside it; ISO with offset."""
    p = make_practice("Europe/London", windows=[(d, "09:00", "12:00") for d in range(1, 8)])
    day = p.day(3)
    body = check(
        p.owner.as_(None).get(
            "/api/v1/slots",
            service_id=p.service_id,
            **{"from": day.isoformat(), "to": day.isoformat()},
        ),
        200,
    )
    assert body["service"]["duration_minutes"] == 60 and body["timezone"] == "Europe/London"
    [group] = body["groups"]
    assert group["practitioner"] == {"id": p.practitioner_id, "display_name": "Dr. Anna Weber"}
    assert group["location"]["id"] == p.location_id
    expected = [p.at(day, t).isoformat() for t in ("09:00", "09:30", "10:00", "10:30", "11:00")]
    assert group["starts"] == expected and body["count"] == 5


def test_slots_honour_appointments_buffers_holds_closures_exceptions(
    make_practice, make_patient, sql
):
    """Booked time (with buffers), live holds, time off, closures and extra hours all count."""
    p = make_practice(
        "Europe/Berlin",
        windows=[(d, "09:00", "13:00") for d in range(1, 8)],
        service={"buffer_after_minutes": 15},
    )
    day, other_day, closed_day = p.day(3), p.day(4), p.day(5)
    patient = make_patient(p.clinic)
    booked = check(
        p.owner.post(
            "/api/v1/appointments", p.booking(p.at(day, "10:00"), patient_id=str(patient.id))
        ),
        201,
    )
    assert booked["status"] == "confirmed"
    walls = [s[11:16] for s in p.slots(**{"from": day.isoformat(), "to": day.isoformat()})]
    # 10:00–11:00 is booked and 11:00–11:15 is its buffer; a 09:00 visit would need 10:00–10:15
    # for its own buffer, so the morning is gone; 11:15 is off the 30-minute grid
    assert walls == ["11:30", "12:00"]
    check(
        p.owner.post(
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": p.practitioner_id,
                "kind": "time_off",
                "start": f"{other_day}T09:30:00",
                "end": f"{other_day}T11:00:00",
                "reason": "Seminar",
            },
        ),
        201,
    )
    check(
        p.owner.post(
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "kind": "extra_hours",
                "start": f"{other_day}T18:00:00",
                "end": f"{other_day}T19:15:00",
            },
        ),
        201,
    )
    walls = [
        s[11:16] for s in p.slots(**{"from": other_day.isoformat(), "to": other_day.isoformat()})
    ]
    assert walls == ["11:00", "11:30", "12:00", "18:00"]
    check(
        p.owner.post(
            "/api/v1/practice/closures",
            {"name": "Clinic holiday", "start_date": closed_day.isoformat()},
        ),
        201,
    )
    assert p.slots(**{"from": closed_day.isoformat(), "to": closed_day.isoformat()}) == []
    # a hold occupies its time until it lapses, even before any sweep
    sql(
        "UPDATE appointments SET status = 'held', hold_expires_at = now() + interval '10 minutes' "
        "WHERE tenant_id = %s",
        p.clinic.id,
    )
    assert "10:00" not in [
        s[11:16] for s in p.slots(**{"from": day.isoformat(), "to": day.isoformat()})
    ]
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 minute' WHERE tenant_id = "
        "%s",
        p.clinic.id,
    )
    walls = [s[11:16] for s in p.slots(**{"from": day.isoformat(), "to": day.isoformat()})]
    assert walls == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00"]


def test_slots_policy_notice_and_advance(make_practice):
    """Minimum notice hides starts too soon; the advance window hides those too far ahead."""
    p = make_practice(
        "Asia/Kolkata",
        windows=[(d, "00:00", "23:30") for d in range(1, 8)],
        service={"duration_minutes": 30},
        rules={"min_notice_minutes": 3 * 24 * 60, "max_advance_days": 5},
    )
    today = p.day(0)
    before = dt.datetime.now(dt.UTC)
    starts = p.slots(**{"from": today.isoformat(), "to": p.day(9).isoformat()})
    after = dt.datetime.now(dt.UTC)
    first = dt.datetime.fromisoformat(starts[0])
    last = dt.datetime.fromisoformat(starts[-1])
    assert before + dt.timedelta(days=3) <= first < after + dt.timedelta(days=3, minutes=61)
    assert before + dt.timedelta(days=5, minutes=-61) < last <= after + dt.timedelta(days=5)
    assert all(s.endswith("+05:30") for s in starts)


def test_slots_filters_and_groups(make_practice):
    """Two practitioners at two locations: grouped, and filterable by either."""
    p = make_practice("Europe/Berlin", windows=[(d, "09:00", "10:00") for d in range(1, 8)])
    o = p.owner
    online = check(
        o.post("/api/v1/practice/locations", {"name": "Video consultation", "kind": "online"}), 201
    )
    second = check(o.post("/api/v1/practice/practitioners", {"display_name": "Dr. Ravi Iyer"}), 201)
    check(
        o.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {
                "mode": "either",
                "practitioner_ids": [p.practitioner_id, second["id"]],
                "location_ids": [p.location_id, online["id"]],
            },
        ),
        200,
    )
    check(
        o.post(
            "/api/v1/practice/availability",
            {
                "practitioner_id": second["id"],
                "location_id": online["id"],
                "weekday": p.day(3).isoweekday(),
                "start_time": "14:00",
                "end_time": "15:00",
            },
        ),
        201,
    )
    day = p.day(3).isoformat()
    body = check(
        o.as_(None).get("/api/v1/slots", service_id=p.service_id, **{"from": day, "to": day}), 200
    )
    got = {(g["practitioner"]["id"], g["location"]["id"]): g["starts"] for g in body["groups"]}
    assert got[(p.practitioner_id, p.location_id)] == [p.at(p.day(3), "09:00").isoformat()]
    assert got[(second["id"], online["id"])] == [p.at(p.day(3), "14:00").isoformat()]
    assert got[(p.practitioner_id, online["id"])] == [] and got[(second["id"], p.location_id)] == []
    only = p.slots(practitioner_id=second["id"], **{"from": day, "to": day})
    assert only == [p.at(p.day(3), "14:00").isoformat()]
    here = p.slots(location_id=p.location_id, **{"from": day, "to": day})
    assert here == [p.at(p.day(3), "09:00").isoformat()]


def test_slots_range_is_bounded(make_practice):
    """More than 62 days, an inverted range or bad dates are a clear 422."""
    p = make_practice()
    anon = p.owner.as_(None)
    too_long = check(
        anon.get(
            "/api/v1/slots", service_id=p.service_id, **{"from": "2027-01-01", "to": "2027-03-05"}
        ),
        422,
    )
    assert too_long["reason"] == "range_too_long" and "to" in too_long["errors"]["query"]
    ok = anon.get(
        "/api/v1/slots", service_id=p.service_id, **{"from": "2027-01-01", "to": "2027-03-03"}
    )
    assert ok.status_code == 200  # 62 days including the last
    inverted = check(
        anon.get(
            "/api/v1/slots", service_id=p.service_id, **{"from": "2027-01-05", "to": "2027-01-01"}
        ),
        422,
    )
    assert inverted["reason"] == "invalid_range"
    garbage = check(
        anon.get("/api/v1/slots", service_id=p.service_id, **{"from": "soon", "to": "2027-01-01"}),
        422,
    )
    assert "from" in garbage["errors"]["query"]
    missing = check(anon.get("/api/v1/slots", **{"from": "2027-01-01", "to": "2027-01-02"}), 422)
    assert "service_id" in missing["errors"]["query"]


def test_berlin_spring_forward_over_the_api(make_practice):
    """Berlin's next spring-forward day: no 02:xx start; a 60-minute visit may span the jump."""
    day = _next_transition("Europe/Berlin", spring=True)
    p = make_practice(
        "Europe/Berlin",
        windows=[(day.isoweekday(), "00:00", "05:00")],
        rules={"max_advance_days": 730},
    )
    starts = p.slots(**{"from": day.isoformat(), "to": day.isoformat()})
    assert [s[11:] for s in starts] == [
        "00:00:00+01:00",
        "00:30:00+01:00",
        "01:00:00+01:00",
        "01:30:00+01:00",
        "03:00:00+02:00",
        "03:30:00+02:00",
        "04:00:00+02:00",
    ]


def test_dst_days_over_the_api(make_practice):
    """Berlin and New York spring/fall days: no nonexistent or duplicate wall-clock starts."""
    for tz in ("Europe/Berlin", "America/New_York"):
        spring, fall = _next_transition(tz, spring=True), _next_transition(tz, spring=False)
        p = make_practice(
            tz,
            windows=[(spring.isoweekday(), "00:00", "05:00")]
            + (
                [(fall.isoweekday(), "00:00", "05:00")]
                if fall.isoweekday() != spring.isoweekday()
                else []
            ),
            service={"duration_minutes": 30},
            rules={"max_advance_days": 730},
        )
        s = p.slots(**{"from": spring.isoformat(), "to": spring.isoformat()})
        walls = [x[11:16] for x in s]
        assert "02:00" not in walls and "02:30" not in walls, (tz, s)
        assert walls[:4] == ["00:00", "00:30", "01:00", "01:30"] and walls[4] == "03:00"
        assert (
            {x[19:] for x in s} == {"-05:00", "-04:00"}
            if tz == "America/New_York"
            else {"+01:00", "+02:00"}
        )
        f = p.slots(**{"from": fall.isoformat(), "to": fall.isoformat()})
        walls = [x[11:16] for x in f]
        assert len(walls) == len(set(walls)), (tz, f)
        assert len(f) == len({dt.datetime.fromisoformat(x) for x in f})
        assert walls == [
            "00:00",
            "00:30",
            "01:00",
            "01:30",
            "02:00",
            "02:30",
            "03:00",
            "03:30",
            "04:00",
            "04:30",
        ]


def test_kolkata_offsets(make_practice):
    """Asia/Kolkata: starts carry +05:30 and 09:00 local is 03:30 UTC."""
    p = make_practice("Asia/Kolkata", windows=[(d, "09:00", "10:30") for d in range(1, 8)])
    day = p.day(3)
    starts = p.slots(**{"from": day.isoformat(), "to": day.isoformat()})
    assert starts == [f"{day}T09:00:00+05:30", f"{day}T09:30:00+05:30"]
    assert dt.datetime.fromisoformat(starts[0]).astimezone(dt.UTC).time() == dt.time(3, 30)


def test_unknown_and_foreign_service(make_practice):
    """Another clinic's service id, an archived or unknown one: 404 with nothing leaked."""
    a, b = make_practice(), make_practice()
    day = a.day(3).isoformat()
    foreign = check(
        b.owner.as_(None).get("/api/v1/slots", service_id=a.service_id, **{"from": day, "to": day}),
        404,
    )
    assert foreign["reason"] == "not_found" and "Follow-up" not in str(foreign)
    check(a.owner.send("DELETE", f"/api/v1/practice/visit-types/{a.service_id}"), 204)
    check(
        a.owner.as_(None).get("/api/v1/slots", service_id=a.service_id, **{"from": day, "to": day}),
        404,
    )
    # the platform host has no slots at all
    resp = a.owner.client.get(
        "/api/v1/slots",
        query_string={"service_id": a.service_id, "from": day, "to": day},
        base_url="http://localhost",
    )
    assert resp.status_code == 404


def test_public_catalogue(make_practice):
    """Visit types, practitioners and locations are public on the clinic's host, active only."""
    a, b = make_practice(), make_practice()
    anon = a.owner.as_(None)
    [svc] = check(anon.get("/api/v1/visit-types"), 200)
    assert svc["id"] == a.service_id and svc["price_minor"] == 6000 and svc["currency"] == "EUR"
    assert svc["practitioner_ids"] == [a.practitioner_id]
    assert [x["id"] for x in check(anon.get("/api/v1/practitioners"), 200)] == [a.practitioner_id]
    assert [x["id"] for x in check(anon.get("/api/v1/locations"), 200)] == [a.location_id]
    assert b.service_id not in str(check(anon.get("/api/v1/visit-types"), 200))
