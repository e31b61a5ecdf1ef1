"""Public reads from recent versions: no round trip when reused, an outside change within a second.

The clinic's front page and the public slot search key their reuse on the versions this
process saw last (``saas.db.lease``, at most ``LEASE_SECONDS`` old). These tests show what
that buys (no SQL at all for a reused answer) and what it must never cost: a write of this
process is seen at once, an outside change within the second, staff and writes never read
from it, a sent token is still checked, and one clinic's answer never serves another.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import psycopg

from saas import db
from tests.conftest import new_client
from tests.helpers import statements_during
from tests.scheduling.conftest import check


def _query(p, days: int = 7) -> dict:
    frm = dt.date.today()
    return {
        "service_id": p.service_id,
        "from": frm.isoformat(),
        "to": (frm + dt.timedelta(days=days)).isoformat(),
    }


def _search(app, p, query: dict | None = None, **extra):
    return new_client(app).get(
        "/api/v1/slots",
        query_string=query or _query(p),
        base_url=f"http://{p.clinic.host}",
        **extra,
    )


def _outside(owner_dsn: str, query: str, *params) -> None:
    """A change from outside this process (the app is not told: no forgetting here)."""
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        conn.execute(query, params)


def test_a_reused_page_and_slot_answer_make_no_sql_statement(app, make_practice):
    """Within the second, the front page and a repeated search touch no database at all."""
    p = make_practice()
    host = f"http://{p.clinic.host}"
    first_page = new_client(app).get("/", base_url=host).get_data(as_text=True)
    first = _search(app, p)
    assert first.status_code == 200 and first.get_json()["count"] > 0
    pages: list = []
    answers: list = []
    seen = statements_during(
        app,
        lambda: (
            pages.append(new_client(app).get("/", base_url=host).get_data(as_text=True)),
            answers.append(_search(app, p)),
        ),
    )
    assert seen == []
    assert pages == [first_page] and "Follow-up" in first_page
    assert answers[0].status_code == 200 and answers[0].data == first.data
    assert answers[0].mimetype == "application/json"
    body = json.loads(answers[0].data)
    assert body["count"] == sum(len(g["starts"]) for g in body["groups"]) > 0


def test_an_outside_change_shows_within_the_second(app, make_practice, owner_dsn):
    """Hours deleted and the clinic renamed by another process: seen once the second is over."""
    p = make_practice()
    host = f"http://{p.clinic.host}"
    assert _search(app, p).get_json()["count"] > 0
    new_client(app).get("/", base_url=host)
    _outside(owner_dsn, "DELETE FROM availability_rules WHERE tenant_id = %s", p.clinic.id)
    _outside(owner_dsn, "UPDATE tenants SET name = 'Renamed Clinic' WHERE id = %s", p.clinic.id)
    time.sleep(db.LEASE_SECONDS + 0.1)
    assert _search(app, p).get_json()["count"] == 0
    assert "Renamed Clinic" in new_client(app).get("/", base_url=host).get_data(as_text=True)


def test_a_booking_in_this_process_is_seen_at_once(app, make_practice, make_patient):
    """The booked start leaves the very next answer: a write drops the clinic's lease."""
    p = make_practice()
    starts = p.slots(**_query(p))
    assert p.slots(**_query(p)) == starts  # reused
    pat = make_patient(p.clinic)
    first = dt.datetime.fromisoformat(starts[0])
    check(p.owner.as_(pat.token).post("/api/v1/appointments", p.booking(first)), 201)
    assert starts[0] not in p.slots(**_query(p))


def test_staff_and_writes_never_read_recent_versions(app, make_practice, owner_dsn):
    """Suspended from outside: the public page may lag a second, the staff API refuses at once."""
    p = make_practice()
    host = f"http://{p.clinic.host}"
    assert new_client(app).get("/", base_url=host).status_code == 200
    _outside(owner_dsn, "UPDATE tenants SET status = 'suspended' WHERE id = %s", p.clinic.id)
    try:
        refused = p.owner.post(
            "/api/v1/practice/closures", {"name": "Any", "start_date": "2031-01-06"}
        )
        assert refused.status_code == 403
        assert refused.get_json()["message"] == "This clinic is paused: read-only for now."
    finally:
        _outside(owner_dsn, "UPDATE tenants SET status = 'active' WHERE id = %s", p.clinic.id)
        db.forget_recent()


def test_a_sent_token_is_checked_even_when_the_answer_is_reused(app, make_practice):
    """A reused answer is no way around the token check: a bad token is still a 401."""
    p = make_practice()
    assert _search(app, p).status_code == 200
    bad = _search(app, p, headers={"Authorization": "Bearer not-a-real-token"})
    assert bad.status_code == 401 and "count" not in bad.get_json()


def test_one_clinics_reused_answer_never_answers_another(app, make_practice):
    """Same question on two clinics' hosts: each gets its own answer; A's visit type is a 404 on B."""
    a, b = make_practice(), make_practice()
    answer_a = _search(app, a)
    assert answer_a.status_code == 200
    on_b = new_client(app).get(
        "/api/v1/slots", query_string=_query(a), base_url=f"http://{b.clinic.host}"
    )
    assert on_b.status_code == 404 and on_b.data != answer_a.data
    assert _search(app, b).get_json()["service"]["id"] == b.service_id


def test_an_answer_is_never_kept_under_versions_newer_than_its_clinic(
    app, make_practice, make_patient, owner_dsn
):
    """A sent token reads newer versions than the leased clinic: that answer is not kept."""
    p = make_practice()
    token = make_patient(p.clinic).token
    day = dt.date.today() + dt.timedelta(days=2)
    # instants, not dates: the same question whatever the clinic's zone
    query = {
        "service_id": p.service_id,
        "from": f"{day.isoformat()}T00:00:00+00:00",
        "to": f"{day.isoformat()}T23:00:00+00:00",
    }
    assert _search(app, p, query=query).get_json()["timezone"] == "Europe/Berlin"
    _outside(owner_dsn, "UPDATE tenants SET timezone = 'Asia/Kolkata' WHERE id = %s", p.clinic.id)
    # within the second: the clinic comes from the lease, the token check reads the new row
    _search(app, p, headers={"Authorization": f"Bearer {token}"}, query=query)
    time.sleep(db.LEASE_SECONDS + 0.1)
    assert _search(app, p, query=query).get_json()["timezone"] == "Asia/Kolkata"


def test_versions_read_before_a_write_of_this_process_are_not_leased(app, make_practice):
    """A bind that began before this process committed a write cannot lease its versions."""
    p = make_practice()
    tid = str(p.clinic.id)
    assert _search(app, p).status_code == 200
    seen, began = db._RECENT[tid]
    db._WRITTEN[tid] = began + 0.001  # a write committed while that bind was running
    try:
        with app.app_context():
            sess = db.session()
            db.bind_tenant(sess, tid)
            assert db.lease(sess) is None
            db.session.remove()
    finally:
        db._WRITTEN.pop(tid, None)
