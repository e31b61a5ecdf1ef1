"""Reschedule, cancel, check-in, complete, no-show: rules, history, audit and outbox."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.scheduling.conftest import check


def _move(sql, appointment_id, start: dt.datetime) -> None:
    """Put an appointment at ``start`` (same length and buffers) — to test past visits."""
    sql(
        "UPDATE appointments SET end_at = %s + (end_at - start_at), "
        "occupied = tstzrange(%s - (start_at - lower(occupied)), %s + (upper(occupied) - "
        "start_at)), "
        "start_at = %s WHERE id = %s",
        start,
        start,
        start,
        start,
        uuid.UUID(str(appointment_id)),
    )


def _outbox(sql, clinic, topic):
    return [
        row[0]
        for row in sql(
            "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = %s ORDER BY created_at",
            clinic.id,
            topic,
        )
    ]


def test_patient_reschedules_atomically(make_practice, make_patient, sql):
    """The new time is claimed and the old released together; history keeps both."""
    p = make_practice()
    pat, other = make_patient(p.clinic, "Maria Schmidt"), make_patient(p.clinic, "Otto Other")
    day = p.day(3)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=pat.token), 201
    )
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "14:00")), token=other.token), 201
    )
    taken = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "14:30").isoformat()},
            token=pat.token,
        ),
        409,
    )
    assert taken["reason"] == "slot_taken"
    # moving by 30 minutes overlaps its own old time: allowed (the row does not block itself)
    moved = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "10:30").isoformat()},
            token=pat.token,
        ),
        200,
    )
    assert moved["start"] == p.at(day, "10:30").isoformat() and moved["reschedule_count"] == 1
    assert moved["id"] == appt["id"] and moved["status"] == "confirmed"
    rows = sql(
        "SELECT start_at, lower(occupied) FROM appointments WHERE id = %s", uuid.UUID(appt["id"])
    )
    assert rows == [(p.at(day, "10:30"), p.at(day, "10:30"))]
    walls = [s[11:16] for s in p.slots(**{"from": day.isoformat(), "to": day.isoformat()})]
    assert "10:00" not in walls and "09:00" in walls and "09:30" in walls and "11:30" in walls
    history = check(p.owner.get(f"/api/v1/appointments/{appt['id']}/history"), 200)
    assert [h["action"] for h in history] == ["booked", "rescheduled"]
    assert dt.datetime.fromisoformat(history[1]["old_start_at"]) == p.at(day, "10:00")
    assert dt.datetime.fromisoformat(history[1]["new_start_at"]) == p.at(day, "10:30")
    [msg] = _outbox(sql, p.clinic, "appointment.rescheduled")
    assert (
        msg["old_start"] == p.at(day, "10:00").isoformat()
        and msg["start"] == p.at(day, "10:30").isoformat()
    )
    assert sql(
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = "
        "'appointment.rescheduled'",
        p.clinic.id,
    ) == [(1,)]
    same = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "10:30").isoformat()},
            token=pat.token,
        ),
        422,
    )
    assert same["reason"] == "unchanged"


def test_reschedule_rules(make_practice, make_patient, sql):
    """Patients reschedule before the cutoff and only to free starts; staff may move later."""
    p = make_practice(rules={"reschedule_cutoff_minutes": 5 * 24 * 60})
    pat = make_patient(p.clinic)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    late = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(8), "10:00").isoformat()},
            token=pat.token,
        ),
        422,
    )
    assert late["reason"] == "reschedule_cutoff_passed"
    off_hours = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(8), "20:00").isoformat()},
        ),
        422,
    )
    assert off_hours["reason"] == "outside_availability"
    by_staff = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(8), "10:00").isoformat()},
        ),
        200,
    )
    assert by_staff["start"] == p.at(p.day(8), "10:00").isoformat()
    history = check(p.owner.get(f"/api/v1/appointments/{appt['id']}/history"), 200)
    assert (
        history[-1]["actor_kind"] == "staff" and history[-1]["actor_label"] == p.clinic.owner_email
    )
    check(
        p.owner.post(f"/api/v1/appointments/{appt['id']}/cancel", {"reason": "Practitioner ill"}),
        200,
    )
    gone = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(9), "10:00").isoformat()},
        ),
        409,
    )
    assert gone["reason"] == "invalid_state"


def test_reschedule_to_another_practitioner(make_practice, make_patient, sql):
    """A visit can move to another practitioner offering the service."""
    p = make_practice()
    second = check(
        p.owner.post("/api/v1/practice/practitioners", {"display_name": "Dr. Ravi Iyer"}), 201
    )
    check(
        p.owner.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {"practitioner_ids": [p.practitioner_id, second["id"]]},
        ),
        200,
    )
    check(
        p.owner.post(
            "/api/v1/practice/availability",
            {
                "practitioner_id": second["id"],
                "location_id": p.location_id,
                "weekday": p.day(3).isoweekday(),
                "start_time": "09:00",
                "end_time": "12:00",
            },
        ),
        201,
    )
    pat = make_patient(p.clinic)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    moved = check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(3), "10:00").isoformat(), "practitioner_id": second["id"]},
            token=pat.token,
        ),
        200,
    )
    assert moved["practitioner"]["id"] == second["id"]
    history = check(p.owner.get(f"/api/v1/appointments/{appt['id']}/history"), 200)
    assert history[-1]["data"] == {"old_practitioner_id": p.practitioner_id}


def test_patient_cancels_early_and_late(make_practice, make_patient, sql):
    """Before the cutoff: free. Inside it: a late cancellation with the clinic's fee."""
    p = make_practice(
        rules={"cancellation_cutoff_minutes": 4 * 24 * 60, "late_cancellation_fee_minor": 2500}
    )
    pat = make_patient(p.clinic)
    early = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(6), "10:00")), token=pat.token),
        201,
    )
    late = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(2), "10:00")), token=pat.token),
        201,
    )
    assert dt.datetime.fromisoformat(late["cancellation_deadline"]) == p.at(
        p.day(2), "10:00"
    ) - dt.timedelta(days=4)
    assert late["late_cancellation_fee_minor"] == 2500
    a = check(p.owner.post(f"/api/v1/appointments/{early['id']}/cancel", {}, token=pat.token), 200)
    assert (a["status"], a["late_cancellation"], a["fee_minor"], a["cancelled_by"]) == (
        "cancelled",
        False,
        0,
        "patient",
    )
    b = check(
        p.owner.post(
            f"/api/v1/appointments/{late['id']}/cancel",
            {"reason": "Feeling better"},
            token=pat.token,
        ),
        200,
    )
    assert (b["status"], b["late_cancellation"], b["fee_minor"]) == ("cancelled", True, 2500)
    msgs = _outbox(sql, p.clinic, "appointment.cancelled")
    assert [(m["appointment_id"], m["late_cancellation"], m["fee_minor"]) for m in msgs] == [
        (early["id"], False, 0),
        (late["id"], True, 2500),
    ]
    again = check(
        p.owner.post(f"/api/v1/appointments/{late['id']}/cancel", {}, token=pat.token), 409
    )
    assert again["reason"] == "invalid_state"
    # the freed time is bookable again
    assert p.at(p.day(6), "10:00").isoformat() in p.slots(
        **{"from": p.day(6).isoformat(), "to": p.day(6).isoformat()}
    )
    events = sql(
        "SELECT action, from_status, to_status, data->>'reason_given' FROM appointment_events"
        " WHERE appointment_id = %s ORDER BY created_at",
        uuid.UUID(late["id"]),
    )
    assert events == [
        ("booked", None, "confirmed", None),
        ("cancelled", "confirmed", "cancelled", "true"),
    ]
    # the patient's words are sealed on the appointment, and nowhere in clear
    (sealed,) = sql(
        "SELECT cancel_reason_enc FROM appointments WHERE id = %s", uuid.UUID(late["id"])
    )[0]
    assert sealed is not None and b"Feeling better" not in bytes(sealed)


def test_staff_cancel_needs_a_reason(make_practice, make_patient, sql):
    """Staff cancel with a reason; no fee unless they charge it."""
    p = make_practice(
        rules={"cancellation_cutoff_minutes": 4 * 24 * 60, "late_cancellation_fee_minor": 2500}
    )
    pat = make_patient(p.clinic)
    a = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(2), "10:00")), token=pat.token),
        201,
    )
    b = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(2), "12:00")), token=pat.token),
        201,
    )
    no_reason = check(p.owner.post(f"/api/v1/appointments/{a['id']}/cancel", {}), 422)
    assert "reason" in no_reason["errors"]["json"]
    done = check(
        p.owner.post(f"/api/v1/appointments/{a['id']}/cancel", {"reason": "Practitioner ill"}), 200
    )
    assert (done["cancelled_by"], done["cancel_reason"], done["fee_minor"]) == (
        "staff",
        "Practitioner ill",
        0,
    )
    charged = check(
        p.owner.post(
            f"/api/v1/appointments/{b['id']}/cancel",
            {"reason": "Phoned in late", "charge_late_fee": True},
        ),
        200,
    )
    assert charged["fee_minor"] == 2500
    audit = sql(
        "SELECT actor_label, data->>'reason', data->>'reason_given' FROM audit_log"
        " WHERE tenant_id = %s AND action = 'appointment.cancelled' ORDER BY seq",
        p.clinic.id,
    )
    # the audit log says a reason was given, never the words (they are sealed on the visit)
    assert audit == [
        (p.clinic.owner_email, None, "true"),
        (p.clinic.owner_email, None, "true"),
    ]


def test_check_in_complete_no_show(make_practice, make_patient, sql):
    """Front desk transitions respect time and state; each is audited with its actor."""
    p = make_practice(rules={"late_cancellation_fee_minor": 3000})
    check(
        p.owner.send(
            "PUT",
            f"/api/v1/practice/visit-types/{p.service_id}/booking-rules",
            {"follow_up_min_days": 28, "follow_up_max_days": 42},
        ),
        200,
    )
    pat = make_patient(p.clinic)
    one = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    two = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "12:00")), token=pat.token),
        201,
    )
    assert (
        check(p.owner.post(f"/api/v1/appointments/{one['id']}/check-in"), 422)["reason"]
        == "too_early"
    )
    assert (
        check(p.owner.post(f"/api/v1/appointments/{one['id']}/complete"), 422)["reason"]
        == "not_started"
    )
    assert (
        check(p.owner.post(f"/api/v1/appointments/{two['id']}/no-show"), 422)["reason"]
        == "not_started"
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _move(sql, one["id"], now + dt.timedelta(minutes=20))
    _move(sql, two["id"], now - dt.timedelta(hours=3))
    checked = check(p.owner.post(f"/api/v1/appointments/{one['id']}/check-in"), 200)
    assert checked["status"] == "checked_in" and checked["checked_in_at"]
    assert (
        check(p.owner.post(f"/api/v1/appointments/{one['id']}/complete"), 422)["reason"]
        == "not_started"
    )
    _move(sql, one["id"], now - dt.timedelta(minutes=50))
    done = check(p.owner.post(f"/api/v1/appointments/{one['id']}/complete"), 200)
    start = dt.datetime.fromisoformat(done["start"]).date()
    assert done["status"] == "completed"
    assert done["follow_up"] == {
        "earliest": (start + dt.timedelta(days=28)).isoformat(),
        "latest": (start + dt.timedelta(days=42)).isoformat(),
    }
    [completed] = _outbox(sql, p.clinic, "appointment.completed")
    assert completed["follow_up"]["from"] == done["follow_up"]["earliest"]
    no_show = check(p.owner.post(f"/api/v1/appointments/{two['id']}/no-show"), 200)
    assert (no_show["status"], no_show["fee_minor"]) == ("no_show", 3000)
    assert (
        check(p.owner.post(f"/api/v1/appointments/{two['id']}/check-in"), 409)["reason"]
        == "invalid_state"
    )
    assert check(
        p.owner.post(f"/api/v1/appointments/{one['id']}/cancel", {}, token=pat.token), 409
    )["reason"] == ("invalid_state")
    actions = sql(
        "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'appointment.%%' ORDER "
        "BY seq",
        p.clinic.id,
    )
    assert [a[0] for a in actions] == [
        "appointment.booked",
        "appointment.booked",
        "appointment.checked_in",
        "appointment.completed",
        "appointment.no_show",
    ]
    # patients cannot use front-desk verbs
    check(p.owner.post(f"/api/v1/appointments/{one['id']}/check-in", token=pat.token), 401)


def test_staff_schedule_listing(make_practice, make_patient):
    """Staff list the clinic's schedule in a bounded range with filters; patients see their own."""
    p = make_practice()
    a, b = make_patient(p.clinic, "Ann Archer"), make_patient(p.clinic, "Ben Baker")
    x = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=a.token), 201
    )
    y = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(4), "10:00")), token=b.token), 201
    )
    frm, to = p.at(p.day(0), "00:00").isoformat(), p.at(p.day(10), "00:00").isoformat()
    everything = check(p.owner.get("/api/v1/appointments", **{"from": frm, "to": to}), 200)
    assert [e["id"] for e in everything] == [x["id"], y["id"]]
    assert [e["patient"]["full_name"] for e in everything] == ["Ann Archer", "Ben Baker"]
    only_b = check(
        p.owner.get("/api/v1/appointments", patient_id=str(b.id), **{"from": frm, "to": to}), 200
    )
    assert [e["id"] for e in only_b] == [y["id"]]
    too_long = check(
        p.owner.get(
            "/api/v1/appointments", **{"from": frm, "to": p.at(p.day(90), "00:00").isoformat()}
        ),
        422,
    )
    assert too_long["reason"] == "range_too_long"
    assert [e["id"] for e in check(p.owner.get("/api/v1/appointments", token=a.token), 200)] == [
        x["id"]
    ]
