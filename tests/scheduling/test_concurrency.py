"""Races against a real server: gunicorn, 4 worker processes x 4 threads, real Postgres."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.scheduling.conftest import check

CLIENTS = 50


def _race(live_server, host, requests_to_send):
    """Send all requests at once (a barrier releases them together); return the responses."""
    barrier = threading.Barrier(len(requests_to_send))

    def send(item):
        token, body = item
        session = requests.Session()
        headers = {
            "Host": host,
            "Authorization": f"Bearer {token}",
            "X-Forwarded-For": f"10.9.{random.randint(0, 255)}.{random.randint(1, 254)}",
        }
        barrier.wait()
        resp = session.post(
            f"{live_server}/api/v1/appointments", json=body, headers=headers, timeout=60
        )
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(send, requests_to_send))


def test_fifty_clients_one_slot(live_server, make_practice, make_patient, sql):
    """50 patients book the same slot at once: exactly one 201, 49 × 409 slot_taken, no 5xx."""
    p = make_practice()
    start = p.at(p.day(3), "10:00")
    patients = [make_patient(p.clinic, f"Racer {n}") for n in range(CLIENTS)]
    results = _race(live_server, p.clinic.host, [(pat.token, p.booking(start)) for pat in patients])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (CLIENTS - 1), statuses
    assert {body["reason"] for status, body in results if status == 409} == {"slot_taken"}
    [winner] = [body for status, body in results if status == 201]
    rows = sql(
        "SELECT id, status FROM appointments WHERE tenant_id = %s AND status IN ('held', "
        "'confirmed', "
        "'checked_in')",
        p.clinic.id,
    )
    assert [(str(r[0]), r[1]) for r in rows] == [(winner["id"], "confirmed")]
    # exactly one booking was audited and announced
    assert sql(
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'appointment.booked'",
        p.clinic.id,
    ) == [(1,)]
    assert sql(
        "SELECT count(*) FROM outbox WHERE tenant_id = %s AND topic = 'appointment.confirmed'",
        p.clinic.id,
    ) == [(1,)]


def test_overlapping_times_and_buffers_race(live_server, make_practice, make_patient, sql):
    """Clients race for different but overlapping starts (buffers included): no overlap survives."""
    p = make_practice(service={"buffer_after_minutes": 15}, rules={"slot_step_minutes": 15})
    day = p.day(4)
    starts = [p.at(day, t) for t in ("10:00", "10:15", "10:30", "10:45", "11:00", "11:15")]
    patients = [make_patient(p.clinic, f"Racer {n}") for n in range(24)]
    results = _race(
        live_server,
        p.clinic.host,
        [(pat.token, p.booking(starts[n % len(starts)])) for n, pat in enumerate(patients)],
    )
    assert all(status in (201, 409) for status, _ in results), results
    won = sorted(body["start"] for status, body in results if status == 201)
    assert won, "somebody must win"
    rows = sql(
        "SELECT lower(occupied), upper(occupied) FROM appointments WHERE tenant_id = %s "
        "AND status = 'confirmed' ORDER BY 1",
        p.clinic.id,
    )
    assert len(rows) == len(won)
    for (_, a_end), (b_start, _) in zip(rows, rows[1:], strict=False):
        assert a_end <= b_start, rows  # occupied ranges (visit + buffer) never overlap
    # the server is healthy afterwards and agrees with the database
    health = requests.get(f"{live_server}/healthz", timeout=5)
    assert health.status_code == 200
    check_body = requests.get(
        f"{live_server}/api/v1/slots",
        headers={"Host": p.clinic.host},
        params={"service_id": p.service_id, "from": day.isoformat(), "to": day.isoformat()},
        timeout=10,
    ).json()
    free = {s for g in check_body["groups"] for s in g["starts"]}
    assert not free & set(won)


def test_live_server_is_isolated_per_clinic(live_server, make_practice, make_patient):
    """Through the real server too: clinic B's patient token is refused on A's host."""
    a, b = make_practice(), make_practice()
    pb = make_patient(b.clinic)
    resp = requests.post(
        f"{live_server}/api/v1/appointments",
        json=a.booking(a.at(a.day(3), "10:00")),
        headers={"Host": a.clinic.host, "Authorization": f"Bearer {pb.token}"},
        timeout=10,
    )
    assert resp.status_code == 401
    check_ok = check(
        a.owner.get(
            "/api/v1/appointments",
            **{
                "from": a.at(a.day(0), "00:00").isoformat(),
                "to": a.at(a.day(9), "00:00").isoformat(),
            },
        ),
        200,
    )
    assert check_ok == []
