"""Outbox relay: deliver messages written in committed transactions (at least once).

Rows are messages (``email.*``, notification topics) or jobs (``job.<name>``, handed to the
actor named in :mod:`workers.jobs`). ``relay_outbox(tenant_id)`` is kicked after each commit
that wrote rows (:mod:`saas.outbox`, by actor name); the periodic
``sweep_outbox`` re-enqueues every active clinic so nothing is stranded when Redis was down
at commit time. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so parallel workers never
deliver the same message twice at once. Email bodies may carry single-use links and ``to``
an address, so both are scrubbed once delivered (:func:`scrub`).
"""

from __future__ import annotations

import contextlib
import logging

import dramatiq
from flask import current_app
from sqlalchemy import select, text

from saas.db import tenant_session
from saas.jobs import PREFIX as JOB_PREFIX
from saas.mail import send_email
from saas.models import OutboxMessage, Tenant, utcnow

from . import (
    broker,  # noqa: F401 - sets the broker before actors are declared
    notifications,
)
from .runtime import in_app

log = logging.getLogger(__name__)
BATCH = 50
MAX_ATTEMPTS = 8


#: Payload keys that may hold contact data or single-use links: blanked once delivered.
SCRUBBED = ("to", "body")


def scrub(payload: dict) -> dict:
    """The payload kept after delivery: ids and topic details, never an address or a link."""
    return {**payload, **{k: "[delivered]" for k in SCRUBBED if k in payload}}


def deliver(sess, msg: OutboxMessage) -> None:
    """Hand one message to its channel."""
    cfg = current_app.config["SIMILIA"]
    if msg.topic.startswith(JOB_PREFIX):
        from .jobs import dispatch

        dispatch(str(msg.tenant_id), msg.topic[len(JOB_PREFIX) :], msg.payload)
    elif msg.topic.startswith("email."):
        p = msg.payload
        send_email(cfg.smtp_url, cfg.mail_from, p["to"], p["subject"], p["body"])
    elif msg.topic in notifications.TOPICS:
        notifications.deliver(sess, msg)
    else:
        log.info("outbox message without a channel", extra={"topic": msg.topic})


def relay(tenant_id: str) -> int:
    """Deliver pending messages of one clinic in order; returns how many were delivered.

    One relay at a time per clinic (a session advisory lock), so a patient's messages leave
    in the order they were written. A relay that finds the lock taken leaves the work to the
    holder, which checks once more for late arrivals after letting go of the lock.
    """
    delivered = 0
    while True:
        with _clinic_lock(tenant_id) as mine:
            if not mine:
                return delivered
            count, failed = _drain(tenant_id)
            delivered += count
        if failed or not _pending(tenant_id):
            return delivered


@contextlib.contextmanager
def _clinic_lock(tenant_id: str):
    conn = current_app.extensions["similia.engine"].connect()
    key = {"k": f"outbox-relay:{tenant_id}"}
    try:
        mine = conn.scalar(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key)
        conn.commit()
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
                conn.commit()
    finally:
        conn.close()


def _pending_query(tenant_id: str):
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.tenant_id == tenant_id,
            OutboxMessage.dispatched_at.is_(None),
            OutboxMessage.attempts < MAX_ATTEMPTS,
        )
        .order_by(OutboxMessage.created_at)
        .limit(1)
    )


def _pending(tenant_id: str) -> bool:
    with tenant_session(tenant_id) as sess:
        return sess.scalar(_pending_query(tenant_id)) is not None


def _drain(tenant_id: str) -> tuple[int, bool]:
    """Deliver until none is left; returns (delivered, stopped on a failure)."""
    delivered = 0
    while True:
        with tenant_session(tenant_id) as sess:
            msg = sess.scalar(_pending_query(tenant_id).with_for_update(skip_locked=True))
            if msg is None:
                return delivered, False
            try:
                deliver(sess, msg)
            except Exception as exc:  # noqa: BLE001 - retried by the next relay or sweep
                # the error's text can quote the recipient (an SMTP refusal): never logged
                log.warning(
                    "outbox delivery failed",
                    extra={"topic": msg.topic, "error": type(exc).__name__, "id": str(msg.id)},
                )
                msg.attempts += 1
                if msg.attempts >= MAX_ATTEMPTS:  # given up: keep no address or link either
                    msg.payload = scrub(msg.payload)
                return delivered, True
            msg.dispatched_at = utcnow()
            msg.attempts += 1
            msg.payload = scrub(msg.payload)
            delivered += 1


@dramatiq.actor(queue_name="outbox", max_retries=3)
@in_app
def relay_outbox(tenant_id: str) -> None:
    """Relay one clinic's pending outbox messages."""
    relay(tenant_id)


@dramatiq.actor(queue_name="outbox", max_retries=0)
@in_app
def sweep_outbox() -> None:
    """Enqueue a relay for every active clinic (periodic safety net)."""
    with tenant_session(None) as sess:
        ids = list(sess.scalars(select(Tenant.id).where(Tenant.status == "active")))
    for tenant_id in ids:
        relay_outbox.send(str(tenant_id))
