"""Delivery under faults, with real processes.

A dedicated Valkey, the SMTP sink as its own process and supervised dramatiq workers
(``tests/faults/fault_worker.py``).

- Workers SIGKILLed at random points of a burst: every message is delivered; a message
  is delivered twice only when a kill fell between the SMTP server's acceptance and our
  record of it, so the extra deliveries are at most kills x worker threads, and each
  duplicated message shows the extra attempt.
- The queue's Redis stopped while a visit is booked: the booking succeeds (the kick is
  lost, the clinic is marked due) and the confirmation arrives once Redis is back and the
  sweep runs.
- The same broker message delivered twice: one email.
"""

from __future__ import annotations

import collections
import json
import random
import threading
import time
import uuid

import dramatiq

from saas.devmail import read_messages
from saas.runtime import make_broker
from tests.factories import ClinicFactory
from tests.faults.processes import wait_until


def _relay_message(tenant_id: str) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name="outbox", actor_name="relay_outbox", args=(tenant_id,), kwargs={}, options={}
    )


def _burst(sql, clinics, per_clinic: int) -> None:
    """Messages written straight into the outbox (no kick: only our sweep relays them)."""
    for c in clinics:
        sql(
            "INSERT INTO outbox (tenant_id, id, topic, payload, attempts, state, created_at,"
            " next_attempt_at)"
            " SELECT %s, gen_random_uuid(), 'email.fault',"
            " jsonb_build_object('to', 'm' || n || '-' || %s || '@example.org',"
            " 'subject', 'Burst ' || n, 'body', 'Message ' || n),"
            " 0, 'queued', clock_timestamp(), now() FROM generate_series(1, %s) AS n",
            c.id,
            c.slug,
            per_clinic,
        )
        sql("UPDATE tenants SET outbox_due_at = now() WHERE id = %s", c.id)


def _rows(sql, clinics):
    return sql(
        "SELECT id, state, attempts, provider_id FROM outbox WHERE tenant_id = ANY(%s)"
        " AND topic = 'email.fault'",
        [c.id for c in clinics],
    )


class Sweeper(threading.Thread):
    """Acts as the scheduler's outbox sweep, for our clinics only, every ``every`` s."""

    def __init__(self, app, broker, clinic_ids, every=0.5):
        super().__init__(daemon=True)
        self.app, self.broker, self.ids, self.every = app, broker, set(clinic_ids), every
        self.stopped = threading.Event()

    def run(self):
        from workers.outbox import due_clinics

        while not self.stopped.is_set():
            try:
                with self.app.app_context():
                    due = [t for t in due_clinics() if t in self.ids]
                for t in due:
                    self.broker.enqueue(_relay_message(t))
            except Exception:  # noqa: BLE001 - Redis may be down in a test: try again
                pass
            self.stopped.wait(self.every)


def test_sigkilled_workers_lose_nothing_and_duplicate_only_in_the_window(app, sql, dedicated):
    """500 messages over 10 clinics; the worker is SIGKILLed 50 times at random points.

    Sizes: 500 messages, 50 kills, 2 worker threads; about 40-60 s on 2 shared cores.
    """
    messages, kills, threads = 500, 50, 2
    clinics = [ClinicFactory() for _ in range(10)]
    worker = dedicated.worker(threads=threads)
    broker = make_broker(dedicated.redis.url)
    _burst(sql, clinics, messages // len(clinics))
    sweeper = Sweeper(app, broker, {str(c.id) for c in clinics})
    sweeper.start()
    rand = random.Random(14)
    started = time.monotonic()
    try:
        while worker.kills < kills:
            time.sleep(rand.uniform(0.05, 0.35))
            if all(s == "sent" for _, s, _, _ in _rows(sql, clinics)):
                break  # everything went through before all kills were spent
            worker.kill()
        wait_until(
            "deliver every message",
            lambda: all(s == "sent" for _, s, _, _ in _rows(sql, clinics)),
            timeout=90,
            every=0.3,
        )
    finally:
        sweeper.stopped.set()
    rows = _rows(sql, clinics)
    ours = {pid: attempts for _, _, attempts, pid in rows}
    assert len(rows) == messages and len(ours) == messages  # one Message-ID per message

    def delivered():
        counts = collections.Counter(
            m["Message-ID"] for m in read_messages(dedicated.sink.dir) if m["Message-ID"] in ours
        )
        return counts if len(counts) == messages else None

    counts = wait_until("see every message in the sink", delivered, timeout=20)
    extra = sum(n - 1 for n in counts.values())
    duplicated = {mid: n for mid, n in counts.items() if n > 1}
    summary = {
        "messages": messages,
        "kills": worker.kills,
        "threads": threads,
        "duplicated_messages": len(duplicated),
        "extra_deliveries": extra,
        "retried_messages": sum(1 for a in ours.values() if a > 1),
        "seconds": round(time.monotonic() - started, 1),
    }
    print("fault summary", json.dumps(summary))
    assert worker.kills >= 1
    # every message arrived; a duplicate needs a kill after acceptance and before the record
    assert set(counts) == set(ours)
    assert extra <= worker.kills * threads, summary
    for mid, n in duplicated.items():
        assert ours[mid] >= n, (mid, n, ours[mid])  # each extra delivery was a new attempt


def test_redis_down_during_a_booking_the_email_arrives_after_it_returns(
    app, make_practice, sql, dedicated
):
    """The queue's Redis is stopped while a visit is booked: booked, delivered later.

    The app's broker is pointed at the dedicated Redis for this test (the session's shared
    Redis, which also holds rate limits, is left alone).
    """
    from tests.scheduling.conftest import check
    from tests.scheduling.test_notifications import _patient_with_email

    p = make_practice("Europe/Berlin")
    email = f"down-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    broker = make_broker(dedicated.redis.url)
    shared = app.extensions["similia.broker"]
    dedicated.redis.stop()
    app.extensions["similia.broker"] = broker
    try:
        appt = check(
            p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token),
            201,
        )
    finally:
        app.extensions["similia.broker"] = shared
    (due,) = sql("SELECT outbox_due_at IS NOT NULL FROM tenants WHERE id = %s", p.clinic.id)[0]
    assert due  # the kick was lost: the clinic is marked for the sweep
    assert sql(
        "SELECT state FROM outbox WHERE tenant_id = %s AND topic = 'appointment.confirmed'",
        p.clinic.id,
    ) == [("queued",)]
    assert not [m for m in read_messages(dedicated.sink.dir) if m["To"] == email]
    # Redis returns; the sweep (the scheduler's job) finds the clinic and a worker delivers.
    # The sweep's selection is the real one; its relay is enqueued for this clinic only, so
    # other tests' undelivered messages in the shared database do not queue ahead of it.
    from workers.outbox import due_clinics

    dedicated.redis.start()
    dedicated.worker()
    with app.app_context():
        assert str(p.clinic.id) in {str(t) for t in due_clinics()}
    broker.enqueue(_relay_message(str(p.clinic.id)))
    (mail,) = wait_until(
        "receive the confirmation",
        lambda: [m for m in read_messages(dedicated.sink.dir) if m["To"] == email],
        timeout=30,
    )
    assert mail["Subject"].strip().startswith("Confirmed: ")
    assert appt["id"] in mail.get_body(preferencelist=("plain",)).get_content()


def test_the_same_broker_message_twice_sends_one_email(app, sql, dedicated):
    clinic = ClinicFactory()
    _burst(sql, [clinic], 1)
    broker = make_broker(dedicated.redis.url)
    message = _relay_message(str(clinic.id))
    broker.enqueue(message)
    broker.enqueue(message)  # the broker redelivers: the same message id, twice
    dedicated.worker()
    wait_until("send", lambda: _rows(sql, [clinic])[0][1] == "sent", timeout=30)
    time.sleep(1.0)  # the second delivery has run (or would have) by now
    (row,) = _rows(sql, [clinic])
    got = [m for m in read_messages(dedicated.sink.dir) if m["Message-ID"] == row[3]]
    assert len(got) == 1 and row[2] == 1


def test_a_worker_process_writes_to_a_german_clinics_patient_in_german(
    app, make_practice, sql, dedicated
):
    """A real worker process (no web app, no request) composes in the patient's language."""
    from tests.scheduling.conftest import check
    from tests.scheduling.test_notifications import _patient_with_email

    p = make_practice("Europe/Berlin")
    sql(
        "UPDATE tenants SET settings = jsonb_set(coalesce(settings, '{}'), '{branding}',"
        " coalesce(settings->'branding', '{}') || '{\"language\": \"de\"}') WHERE id = %s",
        p.clinic.id,
    )
    email = f"de-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    sql("UPDATE patients SET preferred_language = NULL WHERE tenant_id = %s", p.clinic.id)
    broker = make_broker(dedicated.redis.url)
    shared = app.extensions["similia.broker"]
    app.extensions["similia.broker"] = broker
    try:
        check(
            p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token),
            201,
        )
    finally:
        app.extensions["similia.broker"] = shared
    dedicated.worker()
    broker.enqueue(_relay_message(str(p.clinic.id)))
    (mail,) = wait_until(
        "receive the confirmation",
        lambda: [m for m in read_messages(dedicated.sink.dir) if m["To"] == email],
        timeout=30,
    )
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Hallo "), body[:200]
