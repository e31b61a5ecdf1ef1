"""One patient cannot book out the calendar: upcoming visits and unpaid holds are capped."""

from __future__ import annotations

import threading

from tests.client import Api
from tests.scheduling.conftest import check


def test_patient_stops_at_the_clinic_limit_and_staff_do_not(make_practice, make_patient):
    """Default 3 upcoming visits per patient online; the 4th is 409 booking_limit; staff may."""
    p = make_practice()
    pat = make_patient(p.clinic)
    day = p.day(4)
    for hour in ("09:00", "10:00", "11:00"):
        check(
            p.owner.post("/api/v1/appointments", p.booking(p.at(day, hour)), token=pat.token), 201
        )
    fourth = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "12:00")), token=pat.token), 409
    )
    assert fourth["reason"] == "booking_limit"
    by_phone = p.booking(p.at(day, "12:00"), patient_id=str(pat.id))
    check(p.owner.post("/api/v1/appointments", by_phone), 201)  # the front desk decides
    # now 4 upcoming (one by phone): cancelling one leaves 3, still full; a second frees one
    mine = check(p.owner.get("/api/v1/appointments", token=pat.token), 200)
    assert len(mine) == 4
    check(p.owner.post(f"/api/v1/appointments/{mine[0]['id']}/cancel", {}, token=pat.token), 200)
    full = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "14:00")), token=pat.token), 409
    )
    assert full["reason"] == "booking_limit"
    check(p.owner.post(f"/api/v1/appointments/{mine[1]['id']}/cancel", {}, token=pat.token), 200)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "14:00")), token=pat.token), 201)


def test_clinic_sets_its_own_limit(make_practice, make_patient):
    """``PATCH /settings/booking`` changes the cap (validated, audited through the registry)."""
    p = make_practice()
    check(p.owner.send("PATCH", "/api/v1/settings/booking", {"max_upcoming_per_patient": 1}), 200)
    check(p.owner.send("PATCH", "/api/v1/settings/booking", {"max_upcoming_per_patient": 0}), 422)
    pat = make_patient(p.clinic)
    day = p.day(5)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "09:00")), token=pat.token), 201)
    second = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "11:00")), token=pat.token), 409
    )
    assert second["reason"] == "booking_limit"


def test_parallel_bookings_cannot_slip_past_the_limit(app, make_practice, make_patient):
    """Ten bookings at once by one patient at distinct times: exactly the limit succeed."""
    p = make_practice()
    pat = make_patient(p.clinic)
    day = p.day(6)
    hours = [f"{h:02d}:{m:02d}" for h in range(9, 14) for m in (0, 30)]
    results: list[int] = []
    barrier = threading.Barrier(len(hours))

    def book(hhmm):
        api = Api(app, p.clinic)  # one client per thread
        barrier.wait()
        results.append(
            api.post(
                "/api/v1/appointments", p.booking(p.at(day, hhmm)), token=pat.token
            ).status_code
        )

    threads = [threading.Thread(target=book, args=(h,)) for h in hours]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(201) == 3 and set(results) <= {201, 409}


def test_one_unpaid_hold_at_a_time(make_practice, make_patient):
    """A visit type that needs prepayment: a second hold is 409 hold_limit until the first goes."""
    p = make_practice(service={"requires_prepayment": True})
    pat = make_patient(p.clinic)
    day = p.day(4)
    held = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "09:00")), token=pat.token), 201
    )
    assert held["status"] == "held"
    second = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "11:00")), token=pat.token), 409
    )
    assert second["reason"] == "hold_limit"
    check(p.owner.post(f"/api/v1/appointments/{held['id']}/cancel", {}, token=pat.token), 200)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "11:00")), token=pat.token), 201)
