"""Outbox relay: deliver messages written in committed transactions (at least once).

Rows are messages (``email.*``, notification topics) or jobs (``job.<name>``, handed to the
actor named in :mod:`workers.jobs`). ``relay_outbox(tenant_id)`` is kicked after each commit
that wrote rows (:mod:`saas.outbox`, by actor name); the periodic ``sweep_outbox`` kicks
the clinics whose next message is due (``tenants.outbox_due_at``, kept by every relay run,
the reminder planner and a lost kick), so retries and reminders go out on time and nothing
is stranded when Redis was down at commit time. Email bodies may carry single-use links
and ``to`` an address, so both are scrubbed once delivered or given up (:func:`scrub`).

Delivery semantics (at least once, duplicates bounded to one window):

1. **claim and commit**: the oldest due rows (``queued``/``failed``, or ``sending`` whose
   lease ran out; up to :data:`CLAIM_MANY` at once) are locked ``FOR UPDATE SKIP LOCKED``,
   set to ``sending`` with a lease (``next_attempt_at`` = now + :data:`LEASE`), their
   attempt counted, and committed;
2. **check the key, then send outside any transaction**: the rows are read again in one
   short transaction and composed; each is sent only if it is still ours (same
   ``claimed_at``, still ``sending``), one after the other, and its result recorded before
   the next is sent; the email carries a Message-ID derived from the row, the same on
   every attempt;
3. **record the result** in a new transaction: ``sent`` (with the provider's id),
   ``skipped`` (with the reason), ``failed`` (retry at now + backoff with jitter) or
   ``dead`` after :data:`MAX_ATTEMPTS`.

A worker killed between the provider's acceptance and step 3 leaves the row ``sending``;
once the lease ends it is claimed and sent again: that is the only duplicate window. The
claim also moves the clinic's due time (``tenants.outbox_due_at``) to the lease's end
when that is earlier, so the sweep finds a dead worker's clinic without waiting for the
broker to redeliver its relay message.
A failure never blocks the clinic: the relay goes on with the next due row. Per-clinic
fairness: one relay run sends at most :data:`BATCH` messages, then queues itself behind the
other clinics' relays. One relay at a time per clinic (advisory lock) keeps a patient's
messages in the order they were written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import smtplib
import threading
import time
import uuid
from dataclasses import dataclass

import dramatiq
from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from saas import clinic_states, metrics, outbox, queue, sms
from saas.db import tenant_session
from saas.jobs import PREFIX as JOB_PREFIX
from saas.mail import Connection, message_id_for, send_email
from saas.models import OutboxMessage, Tenant

from . import (
    broker,  # noqa: F401 - sets the broker before actors are declared
    notifications,
)
from .runtime import in_app

log = logging.getLogger(__name__)
#: messages one relay run sends before it lets the other clinics' relays go first
BATCH = 50
#: attempts before a message is dead
MAX_ATTEMPTS = 8
#: how long a claim holds a row: a worker killed mid-send gives it back after this
#: (``OUTBOX_LEASE_SECONDS``, default 5 minutes: longer than any send's timeouts)
LEASE = dt.timedelta(seconds=float(os.environ.get("OUTBOX_LEASE_SECONDS") or 300))
#: first retry delay and the longest one
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
#: a message written "now" by a host whose clock runs a little ahead is due all the same
CLOCK_SLACK = dt.timedelta(seconds=5)
#: states the relay still has to work on (the partial index ``ix_outbox_due``)
PENDING = outbox.PENDING_STATES
#: clinic states whose due messages the sweep relays: every state but ``deleted``. A
#: suspended or closing clinic still owes its people their messages (a cancellation, the
#: closing notice, an export link); what may be *written* is decided by the clinic's state.
SENDING = clinic_states.LIVE
#: clinics one sweep relays at most (the rest, oldest due first, in the next sweep)
SWEEP_LIMIT = 5000

#: Payload keys that may hold contact data or single-use links: blanked once delivered.
SCRUBBED = ("to", "body")


def scrub(payload: dict) -> dict:
    """The payload kept after delivery: ids and topic details, never an address or a link."""
    return {**payload, **{k: "[delivered]" for k in SCRUBBED if k in payload}}


def backoff(attempts: int, rand: random.Random | None = None) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed ones: exponential, full jitter.

    Half of the exponential delay is fixed and half random, so retries of a burst spread
    out but a retry never comes back almost at once.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return dt.timedelta(seconds=ceiling / 2 + (rand or random).uniform(0, ceiling / 2))


def describe(exc: BaseException) -> str:
    """A failure in words without contact data (an SMTP refusal quotes the recipient)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"SMTPRecipientsRefused {','.join(map(str, codes))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    if isinstance(exc, sms.SmsError):
        return f"SmsError {exc}" + (f" {exc.code}" if exc.code else "")
    return type(exc).__name__


@dataclass(frozen=True)
class Claim:
    """A claimed message, detached from any session."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    topic: str
    payload: dict
    attempts: int
    claimed_at: dt.datetime
    delivery_key: str | None = None
    #: when this worker took the claim (its own monotonic clock): see :func:`fresh`
    taken: float = 0.0


def fresh(c: Claim) -> bool:
    """True while the claim is young enough to send on: under half its lease.

    A batch is checked as it is composed, then sent one message after the other; a message
    whose claim has aged past half the lease by its turn is not sent (it stays ``sending``
    and goes out on a later claim), so no message is sent on a claim another worker may
    already have taken over.
    """
    return time.monotonic() - c.taken < LEASE.total_seconds() / 2


@dataclass(frozen=True)
class Job:
    """The message is a job: handed to its actor."""


@dataclass(frozen=True)
class Skip:
    """The message is not sent, for ``reason``."""

    reason: str


#: Step 1 in one autocommitted statement (``outbox_claim``, migration 0030): bind the
#: clinic, lock the oldest due rows (up to ``n``, skipping rows another worker holds), mark
#: them ``sending`` under a lease, and move the clinic's due time to the lease's end when
#: that is earlier (so the sweep finds the clinic even if this worker dies before its relay
#: records the clinic's next due time; the clinic's row is written only when it moves).
_CLAIM = text(
    "SELECT id, tenant_id, topic, payload, attempts, claimed_at, delivery_key"
    " FROM outbox_claim(:t, :n, :lease, :slack, :pending)"
)
#: messages one claim takes at once (one transaction for the claim and one for composing
#: them, instead of two per message). Each is still sent, then recorded, on its own: a
#: worker killed mid-batch has sent at most one message it did not record (the duplicate
#: window stays one message per thread), and the rest of its batch is sent by the next
#: worker once the lease ends.
CLAIM_MANY = 10


def claim_many(tenant_id: str, limit: int) -> list[Claim]:
    """Step 1 for up to ``limit`` messages, oldest first, in one committed transaction."""
    taken = time.monotonic()  # before the claim: the lease can only be younger than this
    with _autocommit() as conn:
        rows = conn.execute(
            _CLAIM,
            {
                "t": str(tenant_id),
                "pending": list(PENDING),
                "slack": CLOCK_SLACK,
                "lease": LEASE,
                "n": limit,
            },
        ).all()
        return [
            Claim(
                row.id,
                row.tenant_id,
                row.topic,
                dict(row.payload),
                row.attempts,
                row.claimed_at,
                row.delivery_key,
                taken,
            )
            for row in rows
        ]


def claim(tenant_id: str) -> Claim | None:
    """Step 1: lock the oldest due message, mark it ``sending`` under a lease, commit."""
    claims = claim_many(tenant_id, 1)
    return claims[0] if claims else None


def _compose(sess, c: Claim, msg: OutboxMessage | None):
    if msg is None or msg.state != "sending" or msg.claimed_at != c.claimed_at:
        return None
    if c.topic.startswith("email."):
        return notifications.plain_email(sess, msg)
    if c.topic in notifications.TOPICS:
        return notifications.prepare(sess, msg)
    if c.topic.startswith(JOB_PREFIX):
        return Job()
    return Skip("no channel")


@dataclass(frozen=True)
class Failed:
    """Composing the message raised ``error``: recorded as a failed attempt."""

    error: BaseException


def prepare_many(claims: list[Claim]) -> dict[uuid.UUID, object]:
    """Step 2a for claims of one clinic: check each is still ours, then compose it.

    One read transaction for all of them (one statement loads the rows). A message whose
    composing raises gets :class:`Failed` (a retry with backoff, like a failed send); a
    database error ends the transaction, so the messages after it are composed in a new one.
    None for a message that is no longer ours (sent by a late worker, or claimed again
    after the lease): nothing is sent and nothing recorded.
    """
    out: dict[uuid.UUID, object] = {}
    todo = list(claims)
    while todo:
        tenant_id = str(todo[0].tenant_id)
        broken = False
        with tenant_session(tenant_id) as sess:
            # the clinic's row comes along: composing finds it in the session, no query
            rows = {
                m.id: m
                for m, _ in sess.execute(
                    select(OutboxMessage, Tenant)
                    .outerjoin(Tenant, Tenant.id == OutboxMessage.tenant_id)
                    .where(
                        OutboxMessage.tenant_id == tenant_id,
                        OutboxMessage.id.in_([c.id for c in todo]),
                    )
                )
            }
            while todo and not broken:
                c = todo.pop(0)
                try:
                    out[c.id] = _compose(sess, c, rows.get(c.id))
                except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt
                    out[c.id] = Failed(exc)
                    broken = isinstance(exc, DBAPIError)
            if broken:
                sess.rollback()
    return out


def prepare(c: Claim) -> Job | Skip | notifications.Email | notifications.Sms | str | None:
    """Step 2a for one claim (see :func:`prepare_many`); raises what composing raised."""
    what = prepare_many([c])[c.id]
    if isinstance(what, Failed):
        raise what.error
    return what


def delivery_key(c: Claim) -> str:
    """The message's delivery key: the producer's (reminders), else one made from the row."""
    return f"{c.tenant_id}:{c.delivery_key or f'outbox:{c.id}'}"


def message_id(c: Claim) -> str:
    """The Message-ID of ``c``, derived from its delivery key.

    The same on every attempt, so a receiving server or a mail client can tell a retry
    from a new message.
    """
    host = current_app.config["SIMILIA"].mail_from.rpartition("@")[2].strip(">") or "similia"
    return message_id_for(delivery_key(c), host)


def send(c: Claim, what: Job | notifications.Email | notifications.Sms) -> str | None:
    """Step 2b, outside any transaction: hand the message to its channel; the provider's id."""
    if isinstance(what, Job):
        from .jobs import dispatch

        dispatch(str(c.tenant_id), c.topic[len(JOB_PREFIX) :], c.payload)
        return None
    cfg = current_app.config["SIMILIA"]
    if isinstance(what, notifications.Sms):
        texts = sms.provider(cfg)
        if texts is None:
            raise sms.SmsError("texts off")
        return texts.send(what.to, what.body)
    return send_email(
        cfg.smtp_url,
        cfg.mail_from,
        what.to,
        what.subject,
        what.body,
        html=what.html,
        attachments=what.attachments,
        message_id=message_id(c),
        connection=_smtp(cfg.smtp_url),
    )


_local = threading.local()


def _smtp(url: str) -> Connection:
    """The SMTP connection of the current thread's relay run (closed when the run ends)."""
    conn = getattr(_local, "smtp", None)
    if conn is None or conn.url != url:
        if conn is not None:
            conn.close()
        conn = _local.smtp = Connection(url)
    return conn


def _close_smtp() -> None:
    conn = getattr(_local, "smtp", None)
    if conn is not None:
        conn.close()
        _local.smtp = None


#: Step 3 in one autocommitted statement (``outbox_record``, migration 0030): the result,
#: written only while the row is still ours (same claim, still ``sending``), and a sent
#: text counted; a delivered or abandoned row keeps no address or link.
_RECORD = text(
    "SELECT outbox_record(:t, :id, :claimed_at, :outcome, :provider_id, :last_error,"
    " :skip_reason, :backoff, :scrubbed, :sms_segments, :keep_error)"
)


@contextlib.contextmanager
def _autocommit():
    """A connection on which each statement is its own transaction (one round trip).

    A relay run keeps one for all its claims and records (:func:`relay`), so they skip
    the pool's liveness check (another round trip) after the first.
    """
    conn = getattr(_local, "db", None)
    if conn is not None:
        yield conn
        return
    engine = current_app.extensions["similia.engine"]
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


#: the columns :func:`record` may set besides the state
RECORDED = ("provider_id", "last_error", "skip_reason")


def record(c: Claim, outcome: str, *, sms_text: str | None = None, **values) -> None:
    """Step 3: write the result, if the row is still ours (``sms_text``: count the text)."""
    unknown = set(values) - set(RECORDED)
    if unknown:
        raise TypeError(f"record() cannot set {sorted(unknown)}")
    params = {
        "t": str(c.tenant_id),
        "id": c.id,
        "claimed_at": c.claimed_at,
        "outcome": outcome,
        "backoff": backoff(c.attempts),
        "scrubbed": list(SCRUBBED),
        "provider_id": values.get("provider_id"),
        "last_error": values.get("last_error"),
        "skip_reason": values.get("skip_reason"),
        "keep_error": "last_error" not in values,
        "sms_segments": sms.segments(sms_text).count if sms_text is not None else None,
    }
    with _autocommit() as conn:
        if not conn.scalar(_RECORD, params):
            log.warning("outbox claim lost before its result", extra={"id": str(c.id)})


def channel_of(c: Claim) -> str:
    """The channel of a claimed message, for the metrics: email, sms or job."""
    if c.topic.startswith(JOB_PREFIX):
        return "job"
    return "sms" if c.payload.get("channel") == "sms" else "email"


def deliver_one(tenant_id: str) -> str | None:
    """Claim, send and record one due message of the clinic; its outcome, None if none."""
    outcomes = deliver_some(tenant_id, 1)
    return outcomes[0] if outcomes else None


def deliver_some(tenant_id: str, limit: int) -> list[str]:
    """Claim up to ``limit`` due messages, then send and record each in turn; the outcomes."""
    claims = claim_many(tenant_id, limit)
    if not claims:
        return []
    try:
        composed = prepare_many(claims)
    except Exception as exc:  # noqa: BLE001 - e.g. the database went away: retried later
        composed = {c.id: Failed(exc) for c in claims}
    outcomes = []
    for c in claims:
        outcome = _deliver(c, composed.get(c.id))
        if outcome != "lost":
            metrics.count_message(outcome, channel_of(c))
        outcomes.append(outcome)
    return outcomes


def _deliver(c: Claim, what) -> str:
    try:
        if isinstance(what, Failed):
            raise what.error
        if what is None or not fresh(c):
            return "lost"
        if isinstance(what, str | Skip):
            reason = what if isinstance(what, str) else what.reason
            record(c, "skipped", skip_reason=reason)
            return "skipped"
        provider_id = send(c, what)
    except Exception as exc:  # noqa: BLE001 - recorded and retried with backoff
        # the error's text can quote the recipient (an SMTP refusal): never logged or stored
        error = describe(exc)
        outcome = "dead" if c.attempts >= MAX_ATTEMPTS else "failed"
        log.warning(
            "outbox delivery failed",
            extra={"topic": c.topic, "error": error, "id": str(c.id), "outcome": outcome},
        )
        record(c, outcome, last_error=error)
        return outcome
    sms_text = what.body if isinstance(what, notifications.Sms) else None
    record(c, "sent", provider_id=provider_id, last_error=None, sms_text=sms_text)
    return "sent"


def relay(tenant_id: str, *, batch: int | None = None) -> int:
    """Deliver due messages of one clinic in order; returns how many were handled.

    One relay at a time per clinic (a session advisory lock). A relay that finds the lock
    taken leaves the work to the holder, which checks once more for late arrivals after
    letting go of the lock. After ``batch`` messages the relay queues itself again behind
    the other clinics' relays and returns.
    """
    engine = current_app.extensions["similia.engine"]
    _local.db = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        return _relay(tenant_id, batch or BATCH)
    finally:
        _local.db.close()
        _local.db = None
        _close_smtp()


def _relay(tenant_id: str, batch: int) -> int:
    handled = 0
    while True:
        with _clinic_lock(tenant_id) as mine:
            if not mine:
                return handled
            while handled < batch:
                done = len(deliver_some(tenant_id, min(CLAIM_MANY, batch - handled)))
                if not done:
                    break
                handled += done
        # after letting go of the lock: a message committed before that is seen here, and
        # one committed after it kicks a relay that finds the lock free
        if not _settle(tenant_id):
            return handled
        if handled >= batch:
            queue.send("relay_outbox", tenant_id)
            return handled


@contextlib.contextmanager
def _clinic_lock(tenant_id: str):
    """The clinic's relay lock, held on the run's connection (a session advisory lock)."""
    key = {"k": f"outbox-relay:{tenant_id}"}
    with _autocommit() as conn:
        mine = conn.scalar(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key)
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)


#: The end of a relay run in one statement (``outbox_settle``, migration 0030): record when
#: the clinic's next message falls due (retries and reminders: for the sweep, as
#: :func:`saas.outbox.mark_due`) and answer whether one is due now.
_SETTLE = text("SELECT outbox_settle(:t, :pending, :slack)")


def _settle(tenant_id: str) -> bool:
    with _autocommit() as conn:
        return bool(
            conn.scalar(
                _SETTLE, {"t": str(tenant_id), "pending": list(PENDING), "slack": CLOCK_SLACK}
            )
        )


@dramatiq.actor(queue_name="outbox", max_retries=3)
@in_app
def relay_outbox(tenant_id: str) -> None:
    """Relay one clinic's pending outbox messages."""
    relay(tenant_id)


def due_clinics(limit: int = SWEEP_LIMIT) -> list[str]:
    """Clinics whose next message is due: one query on a partial index, flat in idle clinics."""
    with tenant_session(None) as sess:
        rows = sess.scalars(
            select(Tenant.id)
            .where(
                Tenant.outbox_due_at.is_not(None),
                Tenant.outbox_due_at <= func.now() + CLOCK_SLACK,
                Tenant.status.in_(SENDING),
            )
            .order_by(Tenant.outbox_due_at)
            .limit(limit)
        )
        return [str(t) for t in rows]


@dramatiq.actor(queue_name="outbox", max_retries=0)
@in_app
def sweep_outbox() -> None:
    """Enqueue a relay for every clinic with a due message (periodic safety net)."""
    for tenant_id in due_clinics():
        relay_outbox.send(tenant_id)
