"""``POST /api/v1/appointments``: who may book, the rules, conflicts, holds, records written."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.scheduling.conftest import check


def test_patient_books_a_free_slot(make_practice, make_patient, sql):
    """201 with the appointment; one active row, its history, audit entry and outbox message."""
    p = make_practice("Europe/Berlin")
    pat = make_patient(p.clinic, "Maria Schmidt")
    start = p.at(p.day(3), "10:00")
    body = check(p.owner.post("/api/v1/appointments", p.booking(start), token=pat.token), 201)
    assert body["status"] == "confirmed"
    assert body["start"] == start.isoformat() and body["end"] == p.at(p.day(3), "11:00").isoformat()
    assert (
        body["timezone"] == "Europe/Berlin" and body["patient"] is None
    )  # patients get no patient block
    assert body["practitioner"]["display_name"] == "Dr. Anna Weber"
    assert (
        body["price_minor"] == 6000 and body["currency"] == "EUR" and body["booked_by"] == "patient"
    )
    rows = sql(
        "SELECT patient_id, status, lower(occupied), upper(occupied) FROM appointments WHERE "
        "tenant_id = %s",
        p.clinic.id,
    )
    assert rows == [(pat.id, "confirmed", start, start + dt.timedelta(hours=1))]
    events = sql(
        "SELECT action, to_status, actor_kind, actor_id FROM appointment_events WHERE tenant_id = "
        "%s",
        p.clinic.id,
    )
    assert events == [("booked", "confirmed", "patient", pat.id)]
    audit = sql(
        "SELECT actor_label, target FROM audit_log WHERE tenant_id = %s AND action = "
        "'appointment.booked'",
        p.clinic.id,
    )
    assert audit == [(f"patient:{pat.id}", f"appointment:{body['id']}")]
    [(topic, payload)] = sql(
        "SELECT topic, payload FROM outbox WHERE tenant_id = %s AND topic LIKE 'appointment.%%'",
        p.clinic.id,
    )
    assert topic == "appointment.confirmed"
    assert payload["appointment_id"] == body["id"] and payload["start"] == start.isoformat()
    assert "email" not in payload and payload["patient_id"] == str(pat.id)
    mine = check(p.owner.get("/api/v1/appointments", token=pat.token), 200)
    assert [a["id"] for a in mine] == [body["id"]]
    assert (
        check(p.owner.get(f"/api/v1/appointments/{body['id']}", token=pat.token), 200)["status"]
        == "confirmed"
    )


def test_second_booking_of_the_same_slot_is_409(make_practice, make_patient, sql):
    """Someone else has the time: 409 slot_taken, also when only the buffers overlap."""
    p = make_practice(service={"buffer_after_minutes": 15})
    a, b = make_patient(p.clinic, "Ann A"), make_patient(p.clinic, "Ben B")
    start = p.at(p.day(3), "10:00")
    check(p.owner.post("/api/v1/appointments", p.booking(start), token=a.token), 201)
    again = check(p.owner.post("/api/v1/appointments", p.booking(start), token=b.token), 409)
    assert again["reason"] == "slot_taken"
    # 11:00 is on the grid and inside hours, but 10:00's after-buffer runs to 11:15
    buffer = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "11:00")), token=b.token), 409
    )
    assert buffer["reason"] == "slot_taken"
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "11:30")), token=b.token), 201
    )
    assert sql("SELECT count(*) FROM appointments WHERE tenant_id = %s", p.clinic.id) == [(2,)]


def test_database_refuses_overlaps_even_without_the_app(make_practice, make_patient, sql):
    """The exclusion constraint itself forbids overlapping active rows of a practitioner."""
    import psycopg
    import pytest

    p = make_practice()
    a = make_patient(p.clinic, "Ann A")
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=a.token), 201
    )
    with pytest.raises(psycopg.errors.ExclusionViolation):
        sql(
            "INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, location_id, "
            "service_id, status, "
            "start_at, end_at, occupied, currency, booked_by) SELECT tenant_id, "
            "gen_random_uuid(), patient_id, "
            "practitioner_id, location_id, service_id, 'confirmed', start_at + interval '30 "
            "minutes', "
            "end_at + interval '30 minutes', tstzrange(start_at + interval '30 minutes', end_at + "
            "interval '30 minutes'),"
            " currency, booked_by FROM appointments WHERE tenant_id = %s",
            p.clinic.id,
        )
    # a cancelled or expired row does not take part
    sql("UPDATE appointments SET status = 'cancelled' WHERE tenant_id = %s", p.clinic.id)
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=a.token), 201
    )


def test_rule_violations_have_reasons(make_practice, make_patient, sql):
    """Refusals carry reasons: too_soon, too_far_ahead, in_past, outside_availability, ...

    Also clinic_closed and service_not_offered; staff are exempt from notice and advance.
    """
    p = make_practice(
        windows=[(d, "09:00", "17:00") for d in range(1, 8)],
        rules={"min_notice_minutes": 2 * 24 * 60, "max_advance_days": 30},
    )
    pat = make_patient(p.clinic)
    o = p.owner

    def reason(body, status=422):
        return check(o.post("/api/v1/appointments", body, token=pat.token), status)["reason"]

    assert reason(p.booking(p.at(p.day(1), "10:00"))) == "too_soon"
    assert reason(p.booking(p.at(p.day(40), "10:00"))) == "too_far_ahead"
    assert reason(p.booking(p.at(p.day(-2), "10:00"))) == "in_past"
    assert reason(p.booking(p.at(p.day(5), "18:00"))) == "outside_availability"
    assert reason(p.booking(p.at(p.day(5), "10:10"))) == "outside_availability"  # off the grid
    assert (
        reason(p.booking(p.at(p.day(5), "16:30"))) == "outside_availability"
    )  # would end at 17:30
    check(
        o.post("/api/v1/practice/closures", {"name": "Holi", "start_date": p.day(6).isoformat()}),
        201,
    )
    assert reason(p.booking(p.at(p.day(6), "10:00"))) == "clinic_closed"
    other = check(o.post("/api/v1/practice/practitioners", {"display_name": "Dr. Other"}), 201)
    assert (
        reason(p.booking(p.at(p.day(5), "10:00"), practitioner_id=other["id"]))
        == "service_not_offered"
    )
    naive = check(
        o.post(
            "/api/v1/appointments",
            p.booking(p.at(p.day(5), "10:00")) | {"start": "2030-01-01T10:00:00"},
            token=pat.token,
        ),
        422,
    )
    assert "start" in naive["errors"]["json"]
    missing = check(
        o.post(
            "/api/v1/appointments", {"start": p.at(p.day(5), "10:00").isoformat()}, token=pat.token
        ),
        422,
    )
    assert {"service_id", "practitioner_id", "location_id"} <= set(missing["errors"]["json"])
    assert sql("SELECT count(*) FROM appointments WHERE tenant_id = %s", p.clinic.id) == [(0,)]
    # the same times are fine for staff (notice and advance are the front desk's call)
    ok = check(
        o.post("/api/v1/appointments", p.booking(p.at(p.day(1), "10:00"), patient_id=str(pat.id))),
        201,
    )
    assert ok["booked_by"] == "staff" and ok["patient"]["full_name"] == "Maria Schmidt"
    check(
        o.post("/api/v1/appointments", p.booking(p.at(p.day(40), "10:00"), patient_id=str(pat.id))),
        201,
    )
    assert reason(p.booking(p.at(p.day(-2), "10:00"), patient_id=str(pat.id))) == "in_past"


def test_new_and_returning_patients(make_practice, make_patient):
    """Case-taking is for new patients, follow-ups for returning ones."""
    p = make_practice()
    o = p.owner
    initial = check(
        o.post(
            "/api/v1/practice/visit-types",
            {
                "name": "Initial case-taking",
                "duration_minutes": 90,
                "price_minor": 12000,
                "new_patients_only": True,
                "practitioner_ids": [p.practitioner_id],
                "location_ids": [p.location_id],
            },
        ),
        201,
    )
    check(
        o.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {"returning_patients_only": True},
        ),
        200,
    )
    pat = make_patient(p.clinic)
    follow_up = check(
        o.post("/api/v1/appointments", p.booking(p.at(p.day(3), "09:00")), token=pat.token), 422
    )
    assert follow_up["reason"] == "returning_patients_only"
    first = check(
        o.post(
            "/api/v1/appointments",
            p.booking(p.at(p.day(3), "09:00"), service_id=initial["id"]),
            token=pat.token,
        ),
        201,
    )
    assert first["end"] == p.at(p.day(3), "10:30").isoformat()
    second_initial = check(
        o.post(
            "/api/v1/appointments",
            p.booking(p.at(p.day(4), "09:00"), service_id=initial["id"]),
            token=pat.token,
        ),
        422,
    )
    assert second_initial["reason"] == "new_patients_only"
    check(o.post("/api/v1/appointments", p.booking(p.at(p.day(40), "09:00")), token=pat.token), 201)


def test_patient_cannot_double_book_themselves(make_practice, make_patient):
    """One patient cannot hold two overlapping visits, even with two practitioners."""
    p = make_practice()
    o = p.owner
    second = check(o.post("/api/v1/practice/practitioners", {"display_name": "Dr. Two"}), 201)
    check(
        o.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {"practitioner_ids": [p.practitioner_id, second["id"]]},
        ),
        200,
    )
    for d in range(1, 8):
        check(
            o.post(
                "/api/v1/practice/availability",
                {
                    "practitioner_id": second["id"],
                    "location_id": p.location_id,
                    "weekday": d,
                    "start_time": "09:00",
                    "end_time": "17:00",
                },
            ),
            201,
        )
    pat = make_patient(p.clinic)
    check(o.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token), 201)
    busy = check(
        o.post(
            "/api/v1/appointments",
            p.booking(p.at(p.day(3), "10:30"), practitioner_id=second["id"]),
            token=pat.token,
        ),
        409,
    )
    assert busy["reason"] == "patient_busy"


def test_prepaid_service_holds_then_confirms(make_practice, make_patient, sql):
    """A prepaid visit starts held with an expiry; paying confirms it."""
    p = make_practice(service={"requires_prepayment": True}, rules={"hold_minutes": 20})
    pat = make_patient(p.clinic)
    before = dt.datetime.now(dt.UTC)
    held = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    assert held["status"] == "held"
    expires = dt.datetime.fromisoformat(held["hold_expires_at"])
    assert before + dt.timedelta(minutes=19) < expires < before + dt.timedelta(minutes=21)
    topics = sql(
        "SELECT topic FROM outbox WHERE tenant_id = %s AND topic LIKE 'appointment.%%'", p.clinic.id
    )
    assert topics == [("appointment.held",)]
    # the hold occupies the slot
    other = make_patient(p.clinic, "Otto Other")
    assert (
        check(
            p.owner.post(
                "/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=other.token
            ),
            409,
        )["reason"]
        == "slot_taken"
    )
    paid = check(
        p.owner.post(f"/api/v1/appointments/{held['id']}/confirm", {"payment_ref": "desk-1042"}),
        200,
    )
    assert paid["status"] == "confirmed" and paid["hold_expires_at"] is None and paid["paid_at"]
    assert sql("SELECT payment_ref FROM appointments WHERE id = %s", uuid.UUID(held["id"])) == [
        ("desk-1042",)
    ]
    again = check(p.owner.post(f"/api/v1/appointments/{held['id']}/confirm", {}), 409)
    assert again["reason"] == "invalid_state"


def test_expired_hold_never_blocks(make_practice, make_patient, sql):
    """A lapsed hold frees its slot at once, before any sweep; paying late re-claims if free."""
    p = make_practice(service={"requires_prepayment": True})
    a, b = make_patient(p.clinic, "Ann A"), make_patient(p.clinic, "Ben B")
    start = p.at(p.day(3), "10:00")
    held = check(p.owner.post("/api/v1/appointments", p.booking(start), token=a.token), 201)
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 second' WHERE tenant_id = "
        "%s",
        p.clinic.id,
    )
    shown = check(p.owner.get(f"/api/v1/appointments/{held['id']}", token=a.token), 200)
    assert shown["status"] == "expired"  # still 'held' in the row, expired to everyone
    assert start.isoformat() in p.slots(
        **{"from": p.day(3).isoformat(), "to": p.day(3).isoformat()}
    )
    # the same patient may also book the same time again (their own lapsed hold is expired first)
    taken = check(p.owner.post("/api/v1/appointments", p.booking(start), token=b.token), 201)
    rows = sql(
        "SELECT id, status FROM appointments WHERE tenant_id = %s ORDER BY created_at", p.clinic.id
    )
    assert rows == [(uuid.UUID(held["id"]), "expired"), (uuid.UUID(taken["id"]), "held")]
    events = sql(
        "SELECT action, actor_kind FROM appointment_events WHERE appointment_id = %s ORDER BY "
        "created_at",
        uuid.UUID(held["id"]),
    )
    assert events == [("booked", "patient"), ("hold_expired", "system")]
    late = check(
        p.owner.post(f"/api/v1/appointments/{held['id']}/confirm", {"payment_ref": "late"}), 409
    )
    assert late["reason"] == "slot_taken"
    # a lapsed hold whose time is still free is re-claimed by the payment
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 second' WHERE id = %s",
        uuid.UUID(taken["id"]),
    )
    revived = check(p.owner.post(f"/api/v1/appointments/{taken['id']}/confirm", {}), 200)
    assert revived["status"] == "confirmed"


def test_staff_books_for_a_patient(app, make_practice, make_patient):
    """Staff need appointments.manage and must name a patient of their clinic."""
    p = make_practice()
    pat = make_patient(p.clinic)
    body = p.booking(p.at(p.day(3), "10:00"))
    missing = check(p.owner.post("/api/v1/appointments", body), 422)
    assert "patient_id" in missing["errors"]["json"]
    check(p.owner.post("/api/v1/appointments", body | {"patient_id": str(uuid.uuid4())}), 404)
    made = check(p.owner.post("/api/v1/appointments", body | {"patient_id": str(pat.id)}), 201)
    assert made["patient"]["id"] == str(pat.id)
    history = check(p.owner.get(f"/api/v1/appointments/{made['id']}/history"), 200)
    assert [(h["action"], h["actor_kind"], h["actor_label"]) for h in history] == [
        ("booked", "staff", p.clinic.owner_email)
    ]
    # a patient cannot book for somebody else
    other = make_patient(p.clinic, "Otto Other")
    refused = p.owner.post(
        "/api/v1/appointments",
        p.booking(p.at(p.day(3), "12:00"), patient_id=str(other.id)),
        token=pat.token,
    )
    assert refused.status_code == 403
    check(p.owner.post("/api/v1/appointments", body, token=None), 401)
    check(p.owner.post("/api/v1/appointments", body, token="simp_not-a-token"), 401)


def test_booking_cross_tenant(make_practice, make_patient, sql):
    """B's tokens on A's host are 401; A's ids on B's host are 404; nothing is written."""
    a, b = make_practice(), make_practice()
    pa, pb = make_patient(a.clinic, "Ann A"), make_patient(b.clinic, "Ben B")
    body_a = a.booking(a.at(a.day(3), "10:00"))
    check(a.owner.post("/api/v1/appointments", body_a, token=pb.token), 401)
    check(
        a.owner.post(
            "/api/v1/appointments", body_a | {"patient_id": str(pa.id)}, token=b.owner.token
        ),
        401,
    )
    # A's service/practitioner/location ids on B's host, with B's tokens
    foreign = check(b.owner.post("/api/v1/appointments", body_a, token=pb.token), 404)
    assert foreign["reason"] == "not_found"
    mixed = b.booking(b.at(b.day(3), "10:00"), practitioner_id=a.practitioner_id)
    assert (
        "practitioner_id"
        in check(b.owner.post("/api/v1/appointments", mixed, token=pb.token), 404)["errors"]["json"]
    )
    # A's patient booked by B's staff
    check(
        b.owner.post(
            "/api/v1/appointments", b.booking(b.at(b.day(3), "10:00"), patient_id=str(pa.id))
        ),
        404,
    )
    assert sql(
        "SELECT count(*) FROM appointments WHERE tenant_id IN (%s, %s)", a.clinic.id, b.clinic.id
    ) == [(0,)]
    made = check(a.owner.post("/api/v1/appointments", body_a, token=pa.token), 201)
    for path in (
        f"/api/v1/appointments/{made['id']}",
        f"/api/v1/appointments/{made['id']}/history",
        f"/api/v1/appointments/{made['id']}/calendar.ics",
    ):
        check(b.owner.get(path), 404)
        check(b.owner.get(path, token=pb.token), 404 if "history" not in path else 401)
    assert check(b.owner.get("/api/v1/appointments", token=pb.token), 200) == []
    check(b.owner.post(f"/api/v1/appointments/{made['id']}/cancel", {"reason": "x"}), 404)
    check(
        b.owner.post(f"/api/v1/appointments/{made['id']}/reschedule", {"start": made["start"]}), 404
    )
    for verb in ("confirm", "check-in", "complete", "no-show"):
        check(b.owner.post(f"/api/v1/appointments/{made['id']}/{verb}", {}), 404)
    # another patient of the same clinic gets the same 404
    other = make_patient(a.clinic, "Otto Other")
    check(a.owner.get(f"/api/v1/appointments/{made['id']}", token=other.token), 404)
    check(a.owner.post(f"/api/v1/appointments/{made['id']}/cancel", {}, token=other.token), 404)
    assert sql("SELECT status FROM appointments WHERE id = %s", uuid.UUID(made["id"])) == [
        ("confirmed",)
    ]


def test_constraint_decides_when_the_app_check_is_skipped(
    make_practice, make_patient, monkeypatch, sql
):
    """Without the friendly check and the claim lock, the exclusion constraint still refuses.

    The API answers 409 slot_taken (never 500).
    """
    from saas.scheduling import services

    p = make_practice()
    a, b = make_patient(p.clinic, "Ann A"), make_patient(p.clinic, "Ben B")
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=a.token), 201
    )
    monkeypatch.setattr(services, "_check_time", lambda *args, **kwargs: None)
    monkeypatch.setattr(services, "_claim_lock", lambda *args, **kwargs: None)
    lost = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:30")), token=b.token), 409
    )
    assert lost["reason"] == "slot_taken"
    assert sql("SELECT count(*) FROM appointments WHERE tenant_id = %s", p.clinic.id) == [(1,)]
