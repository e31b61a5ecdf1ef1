"""The waitlist: joining, offers when time frees up (earliest first), fulfilment, isolation."""

from __future__ import annotations

import uuid

from tests.scheduling.conftest import check


def _offers(sql, clinic):
    return sql(
        "SELECT e.patient_id, o.start_at FROM waitlist_offers o JOIN waitlist_entries e "
        "ON e.tenant_id = o.tenant_id AND e.id = o.entry_id WHERE o.tenant_id = %s ORDER BY "
        "o.created_at",
        clinic.id,
    )


def test_cancellation_offers_the_time_to_the_earliest_entries(make_practice, make_patient, sql):
    """Three offers at most, to the earliest matching entries, each an outbox message."""
    p = make_practice(windows=[(d, "09:00", "12:00") for d in range(1, 8)])
    day = p.day(3)
    booker = make_patient(p.clinic, "Bea Booker")
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=booker.token), 201
    )
    waiting = [make_patient(p.clinic, f"Wendy {n}") for n in range(5)]
    other_prac = check(
        p.owner.post("/api/v1/practice/practitioners", {"display_name": "Dr. Elsewhere"}), 201
    )
    check(
        p.owner.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {"practitioner_ids": [p.practitioner_id, other_prac["id"]]},
        ),
        200,
    )
    entries = []
    # entry 0: another practitioner only (no match); 1: dates exclude the day; 2, 3, 4 match
    bodies = [
        {"practitioner_id": other_prac["id"]},
        {"earliest_date": p.day(10).isoformat()},
        {},
        {"practitioner_id": p.practitioner_id},
        {"latest_date": day.isoformat()},
    ]
    for patient, extra in zip(waiting, bodies, strict=True):
        entries.append(
            check(
                p.owner.post(
                    "/api/v1/waitlist", {"service_id": p.service_id, **extra}, token=patient.token
                ),
                201,
            )
        )
    late_comer = make_patient(p.clinic, "Lou Late")
    check(
        p.owner.post("/api/v1/waitlist", {"service_id": p.service_id}, token=late_comer.token), 201
    )
    assert _offers(sql, p.clinic) == []
    check(p.owner.post(f"/api/v1/appointments/{appt['id']}/cancel", {"reason": "Moved away"}), 200)
    offers = _offers(sql, p.clinic)
    assert [o[0] for o in offers] == [waiting[2].id, waiting[3].id, waiting[4].id]
    assert {o[1] for o in offers} == {p.at(day, "10:00")}
    msgs = [
        r[0]
        for r in sql(
            "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = 'waitlist.offer' "
            "ORDER BY created_at",
            p.clinic.id,
        )
    ]
    assert [m["patient_id"] for m in msgs] == [str(w.id) for w in waiting[2:5]]
    assert (
        msgs[0]["start"] == p.at(day, "10:00").isoformat()
        and msgs[0]["service"] == "Follow-up consultation"
    )
    mine = check(p.owner.get("/api/v1/waitlist", token=waiting[2].token), 200)
    assert mine[0]["last_offered_at"] is not None and mine[0]["status"] == "waiting"
    # the first to book wins; booking ends that patient's entry
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=waiting[3].token),
        201,
    )
    lost = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=waiting[2].token),
        409,
    )
    assert lost["reason"] == "slot_taken"
    statuses = dict(
        sql("SELECT patient_id, status FROM waitlist_entries WHERE tenant_id = %s", p.clinic.id)
    )
    assert statuses[waiting[3].id] == "booked" and statuses[waiting[2].id] == "waiting"


def test_reschedule_and_lapsed_hold_offer_freed_time(make_practice, make_patient, sql):
    """Moving away from a time or letting a hold lapse offers that time too."""
    from saas.scheduling.holds import expire_holds

    p = make_practice(windows=[(d, "09:00", "12:00") for d in range(1, 8)])
    day = p.day(3)
    a, w = make_patient(p.clinic, "Ann A"), make_patient(p.clinic, "Wendy W")
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "09:00")), token=a.token), 201
    )
    check(p.owner.post("/api/v1/waitlist", {"service_id": p.service_id}, token=w.token), 201)
    check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "11:00").isoformat()},
            token=a.token,
        ),
        200,
    )
    assert [o[1] for o in _offers(sql, p.clinic)] == [p.at(day, "09:00")]
    # a held booking that lapses: the sweep offers its time
    check(
        p.owner.send(
            "PATCH", f"/api/v1/practice/visit-types/{p.service_id}", {"requires_prepayment": True}
        ),
        200,
    )
    b = make_patient(p.clinic, "Ben B")
    held = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=b.token), 201
    )
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 minute' WHERE id = %s",
        uuid.UUID(held["id"]),
    )
    from flask import current_app  # noqa: F401 - app context below

    from saas.db import tenant_session
    from saas.models import Tenant

    app = p.owner.client.application
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert expire_holds(sess, sess.get(Tenant, p.clinic.id)) == 1
    assert sql("SELECT status FROM appointments WHERE id = %s", uuid.UUID(held["id"])) == [
        ("expired",)
    ]
    assert [o[1] for o in _offers(sql, p.clinic)] == [p.at(day, "09:00"), p.at(day, "10:00")]
    topics = [
        t[0]
        for t in sql(
            "SELECT topic FROM outbox WHERE tenant_id = %s ORDER BY created_at", p.clinic.id
        )
    ]
    assert topics.count("appointment.hold_expired") == 1


def test_join_rules_and_leaving(make_practice, make_patient):
    """Duplicates are refused, dates are checked, patients leave their own entries only."""
    p = make_practice()
    pat, other = make_patient(p.clinic), make_patient(p.clinic, "Otto Other")
    entry = check(
        p.owner.post("/api/v1/waitlist", {"service_id": p.service_id}, token=pat.token), 201
    )
    assert entry["status"] == "waiting" and entry["patient_id"] == str(pat.id)
    dup = check(
        p.owner.post("/api/v1/waitlist", {"service_id": p.service_id}, token=pat.token), 409
    )
    assert dup["reason"] == "duplicate"
    past = check(
        p.owner.post(
            "/api/v1/waitlist",
            {"service_id": p.service_id, "latest_date": "2020-01-01"},
            token=other.token,
        ),
        422,
    )
    assert "latest_date" in past["errors"]["json"]
    check(p.owner.send("DELETE", f"/api/v1/waitlist/{entry['id']}", token=other.token), 404)
    check(p.owner.send("DELETE", f"/api/v1/waitlist/{entry['id']}", token=pat.token), 204)
    assert check(p.owner.get("/api/v1/waitlist", token=pat.token), 200)[0]["status"] == "cancelled"
    # staff see who is waiting and can add a patient
    staff_added = check(
        p.owner.post("/api/v1/waitlist", {"service_id": p.service_id, "patient_id": str(other.id)}),
        201,
    )
    assert [e["id"] for e in check(p.owner.get("/api/v1/waitlist"), 200)] == [staff_added["id"]]


def test_waitlist_cross_tenant(make_practice, make_patient):
    """Another clinic's service, tokens and entries: 401/404, nothing leaks."""
    a, b = make_practice(), make_practice()
    pa, pb = make_patient(a.clinic), make_patient(b.clinic)
    check(a.owner.post("/api/v1/waitlist", {"service_id": a.service_id}, token=pb.token), 401)
    check(b.owner.post("/api/v1/waitlist", {"service_id": a.service_id}, token=pb.token), 404)
    entry = check(
        a.owner.post("/api/v1/waitlist", {"service_id": a.service_id}, token=pa.token), 201
    )
    check(b.owner.send("DELETE", f"/api/v1/waitlist/{entry['id']}", token=pb.token), 404)
    check(b.owner.send("DELETE", f"/api/v1/waitlist/{entry['id']}"), 404)
    assert check(b.owner.get("/api/v1/waitlist"), 200) == []
    check(a.owner.get("/api/v1/waitlist", token=b.owner.token), 401)
