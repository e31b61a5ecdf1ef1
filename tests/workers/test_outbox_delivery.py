"""Outbox delivery semantics: claim and commit, send outside a transaction, record the result.

Real Postgres and the real SMTP sink; the relay is called directly (a worker running for
other tests may relay the same clinic meanwhile: both go through the same claims, so the
tests wait for the rows to settle rather than for one call).
"""

from __future__ import annotations

import random
import time
import uuid

import psycopg
import pytest

from saas import outbox
from saas.devmail import read_messages
from tests.factories import ClinicFactory, PatientFactory
from tests.factories.base import clinic_session
from tests.helpers import text_of


@pytest.fixture
def relay_mod(app):
    from workers import outbox as relay_mod

    return relay_mod


def _rows(owner_dsn, tenant_id):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        cur = conn.execute(
            "SELECT topic, state, attempts, skip_reason, last_error, provider_id, payload,"
            " next_attempt_at > now() + interval '10 seconds', dispatched_at IS NOT NULL"
            " FROM outbox WHERE tenant_id = %s ORDER BY created_at",
            (tenant_id,),
        )
        names = [d.name for d in cur.description]
        names[7:9] = ["later", "dispatched"]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _owner_sql(owner_dsn, sql, params):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        conn.execute(sql, params)


def _settle(app, relay_mod, owner_dsn, tenant_id, timeout=20.0):
    """Relay until no row of the clinic is due or being sent.

    A failed row whose retry is due counts as work (a relay of the session's worker may hold
    the clinic's lock at the moment this one tries, and then this one does nothing).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            relay_mod.relay(str(tenant_id))
        rows = _rows(owner_dsn, tenant_id)
        busy = any(
            r["state"] in ("queued", "sending") or (r["state"] == "failed" and not r["later"])
            for r in rows
        )
        if not busy:
            return rows
        time.sleep(0.1)
    raise AssertionError(_rows(owner_dsn, tenant_id))


def _mail_to(mail_dir, to):
    return [m for m in read_messages(mail_dir) if m["To"] == to]


def _email(to):
    return {"to": to, "subject": "Your link", "body": "LINK-123"}


def test_a_failing_message_does_not_block_the_others_and_is_retried_later(
    app, relay_mod, owner_dsn, mail_dir
):
    """The first message fails (unknown job): the next one is sent; the failure waits."""
    clinic = ClinicFactory()
    to = f"first-{uuid.uuid4().hex[:8]}@example.org"
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(sess, clinic.id, "job.no_such_job", {"x": 1})
        outbox.emit(sess, clinic.id, "email.sign_in_link", _email(to))
    failing, sent = _settle(app, relay_mod, owner_dsn, clinic.id)
    assert (failing["state"], failing["attempts"], failing["last_error"]) == (
        "failed",
        1,
        "KeyError",
    )
    assert failing["later"] and not failing["dispatched"]
    assert sent["state"] == "sent" and sent["attempts"] == 1 and sent["dispatched"]
    assert sent["payload"]["to"] == "[delivered]" and sent["payload"]["body"] == "[delivered]"
    (mail,) = _mail_to(mail_dir, to)
    assert mail["Message-ID"] == sent["provider_id"] and sent["provider_id"].startswith("<")
    assert "LINK-123" in text_of(mail)


def test_retries_with_backoff_then_dead(app, relay_mod, owner_dsn):
    """A due retry is tried again; after the last attempt the message is dead and scrubbed."""
    clinic = ClinicFactory()
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(sess, clinic.id, "job.no_such_job", {"to": "x@example.org"})
    _settle(app, relay_mod, owner_dsn, clinic.id)
    _owner_sql(
        owner_dsn, "UPDATE outbox SET next_attempt_at = now() WHERE tenant_id = %s", (clinic.id,)
    )
    (row,) = _settle(app, relay_mod, owner_dsn, clinic.id)
    assert (row["state"], row["attempts"], row["later"]) == ("failed", 2, True)
    _owner_sql(
        owner_dsn,
        "UPDATE outbox SET next_attempt_at = now(), attempts = %s WHERE tenant_id = %s",
        (relay_mod.MAX_ATTEMPTS - 1, clinic.id),
    )
    (row,) = _settle(app, relay_mod, owner_dsn, clinic.id)
    assert (row["state"], row["attempts"]) == ("dead", relay_mod.MAX_ATTEMPTS)
    assert row["payload"]["to"] == "[delivered]" and row["last_error"] == "KeyError"
    # dead is final: nothing picks it up again
    with app.app_context():
        assert relay_mod.claim(str(clinic.id)) is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped(relay_mod):
    rand = random.Random(7)
    delays = [relay_mod.backoff(n, rand).total_seconds() for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(relay_mod.BACKOFF_CAP, relay_mod.BACKOFF_BASE * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert delays[-1] <= relay_mod.BACKOFF_CAP and delays[3] > delays[0]
    assert len({relay_mod.backoff(3).total_seconds() for _ in range(20)}) > 1  # jittered


def test_claim_is_committed_leased_and_checked_before_sending(app, relay_mod, owner_dsn, mail_dir):
    """A claimed row is visibly ``sending`` at once; a second claim waits for the lease.

    Once the lease ends another worker takes it, and the first one's late send is refused.
    """
    clinic = ClinicFactory()
    to = f"lease-{uuid.uuid4().hex[:8]}@example.org"
    # hold the clinic's relay lock before the message exists: no running relay takes it
    lock = psycopg.connect(owner_dsn)
    lock.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"outbox-relay:{clinic.id}",))
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(sess, clinic.id, "email.sign_in_link", _email(to))
    try:
        with app.app_context():
            first = relay_mod.claim(str(clinic.id))
            assert first is not None and first.attempts == 1
            (row,) = _rows(owner_dsn, clinic.id)  # another connection sees it: committed
            assert row["state"] == "sending" and row["later"]
            assert relay_mod.claim(str(clinic.id)) is None  # leased
            _owner_sql(
                owner_dsn,
                "UPDATE outbox SET next_attempt_at = now() - interval '1 second'"
                " WHERE tenant_id = %s",
                (clinic.id,),
            )
            second = relay_mod.claim(str(clinic.id))
            assert second is not None and second.attempts == 2
            assert relay_mod.prepare(first) is None  # no longer ours: not sent
            what = relay_mod.prepare(second)
            relay_mod.record(second, "sent", provider_id=relay_mod.send(second, what))
            relay_mod.record(first, "failed", last_error="late")  # ignored
    finally:
        lock.close()
    (row,) = _rows(owner_dsn, clinic.id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    deadline = time.monotonic() + 10
    while not _mail_to(mail_dir, to) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_mail_to(mail_dir, to)) == 1


def test_a_batch_is_claimed_at_once_and_a_stale_claim_is_not_sent(
    app, relay_mod, owner_dsn, mail_dir
):
    """One claim takes several due rows; a stale claim is not sent.

    A message whose claim aged past half the lease by its turn is neither sent nor
    recorded (it stays ``sending`` for a later claim).
    """
    import dataclasses

    clinic = ClinicFactory()
    tag = uuid.uuid4().hex[:8]
    lock = psycopg.connect(owner_dsn)  # no running relay takes these rows meanwhile
    lock.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"outbox-relay:{clinic.id}",))
    with clinic_session(app, clinic.id) as sess:
        for n in range(3):
            outbox.emit(sess, clinic.id, "email.sign_in_link", _email(f"b{n}-{tag}@example.org"))
    try:
        with app.app_context():
            claims = relay_mod.claim_many(str(clinic.id), 10)
            assert len(claims) == 3 and [c.attempts for c in claims] == [1, 1, 1]
            assert {r["state"] for r in _rows(owner_dsn, clinic.id)} == {"sending"}
            composed = relay_mod.prepare_many(claims)
            first, stale = (
                claims[0],
                dataclasses.replace(
                    claims[1], taken=time.monotonic() - relay_mod.LEASE.total_seconds()
                ),
            )
            assert relay_mod._deliver(first, composed[first.id]) == "sent"
            assert relay_mod._deliver(stale, composed[stale.id]) == "lost"
    finally:
        lock.close()
    states = [r["state"] for r in _rows(owner_dsn, clinic.id)]
    assert states == ["sent", "sending", "sending"]
    deadline = time.monotonic() + 10
    while not _mail_to(mail_dir, f"b0-{tag}@example.org") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_mail_to(mail_dir, f"b0-{tag}@example.org")) == 1
    assert _mail_to(mail_dir, f"b1-{tag}@example.org") == []


def test_messages_nobody_can_receive_are_skipped_with_the_reason(app, relay_mod, owner_dsn):
    clinic = ClinicFactory()
    bare = PatientFactory(clinic=clinic, bare=True)
    ghost = str(uuid.uuid4())
    detail = {
        "service": "Consultation",
        "practitioner": "Dr. A",
        "start": "2030-01-01T10:00:00+00:00",
        "timezone": "UTC",
        "location": "Room 1",
        "appointment_id": str(uuid.uuid4()),
    }
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(
            sess, clinic.id, "appointment.confirmed", {**detail, "patient_id": str(bare.id)}
        )
        outbox.emit(sess, clinic.id, "appointment.confirmed", {**detail, "patient_id": ghost})
        outbox.emit(sess, clinic.id, "no.channel", {})
    rows = _settle(app, relay_mod, owner_dsn, clinic.id)
    # The three rows share one transaction's created_at: match each by what it was for.
    outcome = {
        (r["topic"], r["payload"].get("patient_id")): (r["state"], r["skip_reason"]) for r in rows
    }
    assert outcome == {
        ("appointment.confirmed", str(bare.id)): ("skipped", "no address"),
        ("appointment.confirmed", ghost): ("skipped", "erased patient"),
        ("no.channel", None): ("skipped", "no channel"),
    }


def test_one_run_sends_a_batch_then_queues_itself_behind_other_clinics(app, relay_mod, owner_dsn):
    """Per-clinic fairness: a bulk send is cut into batches."""
    clinic = ClinicFactory()
    with clinic_session(app, clinic.id) as sess:
        for n in range(3):
            outbox.emit(sess, clinic.id, "email.sign_in_link", _email(f"b{n}@example.org"))
    with app.app_context():
        handled = relay_mod.relay(str(clinic.id), batch=2)
    states = [r["state"] for r in _rows(owner_dsn, clinic.id)]
    if handled:  # (0 when a running worker held the clinic's lock meanwhile)
        assert handled == 2 and states.count("sent") >= 2
    _settle(app, relay_mod, owner_dsn, clinic.id)
    assert [r["state"] for r in _rows(owner_dsn, clinic.id)] == ["sent"] * 3


def test_clinics_cannot_see_each_others_outbox_state(app, runtime_dsn):
    """The new columns live on the RLS-protected outbox: another clinic sees no row."""
    a, b = ClinicFactory(), ClinicFactory()
    with clinic_session(app, a.id) as sess:
        outbox.emit(sess, a.id, "job.no_such_job", {})
    with psycopg.connect(runtime_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(b.id),))
        assert conn.execute(
            "SELECT count(*) FROM outbox WHERE tenant_id = %s", (a.id,)
        ).fetchone() == (0,)
