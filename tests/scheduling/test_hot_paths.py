"""The hot paths' budgets and caches: statements per booking, and caches that are never stale.

Statement counts are not timings: a regression that adds a round trip to the booking path
fails here. The caches (clinic by host, practice catalogue, free times) are checked for
what must never happen: a taken time still offered, a change not seen by the next request,
one clinic's data answering another's query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading

from sqlalchemy import event

from saas import audit, db
from tests.conftest import new_client
from tests.scheduling.conftest import check

#: The booking path's budget (issue "fast hot paths"): binding the clinic, the caller's
#: token, then the booking's own statements.
BOOKING_BUDGET = 8


class _Seen(list):
    """Statements run, and those SQLAlchemy had no cache key for (``uncacheable``)."""

    def __init__(self):
        super().__init__()
        self.uncacheable: list[str] = []


@contextlib.contextmanager
def statements(app):
    """Collect the SQL statements the runtime engine runs in this thread inside the block.

    The test client serves the request in this thread; the workers draining the outbox in
    the background share the engine, and their statements are not the request's.
    """
    seen = _Seen()
    engine = app.extensions["similia.engine"]
    me = threading.get_ident()

    def before(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:
            seen.append(statement)
            # a statement SQLAlchemy cannot cache is compiled again on every request
            if str(getattr(context, "cache_hit", "")).endswith("NO_CACHE_KEY"):
                seen.uncacheable.append(statement.split("\n")[0][:120])

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _free(p, days: int = 14) -> list[dt.datetime]:
    frm = dt.date.today()
    return [
        dt.datetime.fromisoformat(s)
        for s in p.slots(
            **{"from": frm.isoformat(), "to": (frm + dt.timedelta(days=days)).isoformat()}
        )
    ]


def test_a_booking_makes_at_most_eight_statements(app, make_practice, make_patient, sql):
    """A patient's booking through the API, caches warm: ≤ 8 statements, and it is all there."""
    p = make_practice()
    first, second = make_patient(p.clinic, "Pat One"), make_patient(p.clinic, "Pat Two")
    starts = _free(p)
    check(p.owner.as_(first.token).post("/api/v1/appointments", p.booking(starts[0])), 201)
    with statements(app) as seen:
        body = check(
            p.owner.as_(second.token).post("/api/v1/appointments", p.booking(starts[-1])), 201
        )
    assert len(seen) <= BOOKING_BUDGET, "\n".join(s.split("\n")[0][:120] for s in seen)
    assert seen.uncacheable == []  # every statement comes from the compiled cache
    assert body["status"] == "confirmed" and body["service"]["id"] == p.visit_type_id
    # the history row, the messages, the audit entry: written with the appointment
    aid = body["id"]
    assert sql(
        "SELECT action FROM appointment_events WHERE tenant_id = %s AND appointment_id = %s",
        p.clinic.id,
        aid,
    ) == [("booked",)]
    # the patient's confirmation and the practitioner's alert, in the same statement
    assert sql(
        "SELECT topic FROM outbox WHERE tenant_id = %s AND payload->>'appointment_id' = %s"
        " ORDER BY topic",
        p.clinic.id,
        aid,
    ) == [("appointment.confirmed",), ("practitioner.alert",)]
    with db.tenant_session(p.clinic.id) as sess, app.app_context():
        assert audit.verify_chain(sess, p.clinic.id) is None
        assert audit.count(sess, p.clinic.id, "appointment.booked") == 2


def test_a_refused_booking_stays_cheap_and_writes_nothing(app, make_practice, make_patient, sql):
    """A taken time is refused after the claim statement; nothing of it is kept."""
    p = make_practice()
    one, two = make_patient(p.clinic, "Pat One"), make_patient(p.clinic, "Pat Two")
    start = _free(p)[0]
    check(p.owner.as_(one.token).post("/api/v1/appointments", p.booking(start)), 201)
    with statements(app) as seen:
        resp = p.owner.as_(two.token).post("/api/v1/appointments", p.booking(start))
    assert resp.status_code in (409, 422) and len(seen) <= 4
    assert sql(
        "SELECT count(*) FROM appointments WHERE tenant_id = %s AND patient_id = %s",
        p.clinic.id,
        two.id,
    ) == [(0,)]


def test_public_page_and_slots_never_offer_a_time_once_taken(app, make_practice, make_patient):
    """Cached free times: the next request after a booking commits no longer offers it."""
    p = make_practice()
    client = new_client(app)
    host = f"http://{p.clinic.host}"
    free = _free(p)
    page = client.get("/", base_url=host).get_data(as_text=True)
    assert f'datetime="{free[0].isoformat()}"' in page
    client.get("/", base_url=host)  # served from the cache now
    pat = make_patient(p.clinic)
    check(p.owner.as_(pat.token).post("/api/v1/appointments", p.booking(free[0])), 201)
    assert free[0] not in _free(p)
    page = client.get("/", base_url=host).get_data(as_text=True)
    assert f'datetime="{free[0].isoformat()}"' not in page
    # a cancellation gives it back at once
    [appt] = check(p.owner.as_(pat.token).get("/api/v1/appointments"), 200)
    check(
        p.owner.as_(pat.token).post(f"/api/v1/appointments/{appt['id']}/cancel", {}),
        200,
    )
    assert free[0] in _free(p)


def test_practice_changes_reach_the_next_request(make_practice):
    """A closure added through the API empties that day at once (the catalogue reloads)."""
    p = make_practice()
    day = p.day(3)
    assert any(s.astimezone(p.zone).date() == day for s in _free(p))
    check(
        p.owner.post(
            "/api/v1/practice/closures",
            {"name": "Inventory day", "start_date": day.isoformat(), "end_date": day.isoformat()},
        ),
        201,
    )
    assert not any(s.astimezone(p.zone).date() == day for s in _free(p))


def test_owner_sql_changes_are_seen_too(make_practice, sql):
    """Maintenance as the database owner, with no clinic bound, still invalidates the caches."""
    p = make_practice()
    assert _free(p)
    sql("DELETE FROM availability_rules WHERE tenant_id = %s", p.clinic.id)
    assert _free(p) == []


def test_clinic_changes_and_suspension_reach_the_next_request(app, make_practice, sql):
    """The host cache never serves a clinic row that changed: suspension is seen at once.

    (Public reads see an outside change within a second; each ``sql`` call stands for it.)
    """
    p = make_practice()
    client = new_client(app)
    host = f"http://{p.clinic.host}"
    assert client.get("/", base_url=host).status_code == 200
    assert client.get("/", base_url=host).status_code == 200  # cached
    sql("UPDATE tenants SET name = 'Renamed Homeopathy' WHERE id = %s", p.clinic.id)
    assert "Renamed Homeopathy" in client.get("/", base_url=host).get_data(as_text=True)
    sql("UPDATE tenants SET status = 'suspended' WHERE id = %s", p.clinic.id)
    try:  # suspended: still answers, and says bookings are paused
        assert b"Online booking is paused" in client.get("/", base_url=host).data
        sql("UPDATE tenants SET status = 'closing' WHERE id = %s", p.clinic.id)
        assert client.get("/", base_url=host).status_code == 403
        assert client.get("/api/v1/visit-types", base_url=host).status_code == 403
    finally:
        sql("UPDATE tenants SET status = 'active' WHERE id = %s", p.clinic.id)
    assert client.get("/", base_url=host).status_code == 200


def test_one_clinics_cached_times_never_answer_another(make_practice):
    """Warm caches of clinic A: clinic B cannot reach A's visit type or its times."""
    a, b = make_practice(), make_practice()
    assert _free(a)  # A's catalogue and times are cached
    today = dt.date.today()
    resp = b.owner.get(
        "/api/v1/slots",
        query_string={
            "service_id": a.visit_type_id,
            "from": today.isoformat(),
            "to": (today + dt.timedelta(days=14)).isoformat(),
        },
    )
    assert resp.status_code == 404 and resp.get_json()["errors"]["query"]["service_id"]
    assert _free(b)  # B's own times are B's


def test_slot_search_takes_ids_as_text_or_uuid(app, make_practice):
    """The catalogue is keyed by UUID; a caller's text ids find the same free times."""
    import datetime as _dt
    import uuid as _uuid

    from saas.db import tenant_session
    from saas.exceptions import NotFound
    from saas.scheduling.queries import search_slots

    p = make_practice()
    start = _dt.datetime.combine(p.day(2), _dt.time(), p.zone)
    end = start + _dt.timedelta(days=3)
    with app.app_context():
        answers = []
        for sid in (str(p.service_id), _uuid.UUID(str(p.service_id))):
            for _ in range(2):  # first without, then with the catalogue
                with tenant_session(p.clinic.id) as sess:
                    answers.append(search_slots(sess, p.clinic.id, sid, start, end).slots)
        assert answers[0] and all(a == answers[0] for a in answers)
        with tenant_session(p.clinic.id) as sess:
            try:
                search_slots(sess, p.clinic.id, "not-a-uuid", start, end)
            except NotFound:
                pass
            else:
                raise AssertionError("an id that is no UUID must be 'not found'")
