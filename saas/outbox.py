"""The transactional outbox: messages and jobs are rows written with the change.

``emit`` adds a message (an email, a notification) and :func:`saas.jobs.enqueue` a job, in
the caller's transaction; once that transaction commits, the clinic's relay is kicked (a
dramatiq message sent by name: the core never imports ``workers``). If the kick is lost
(Redis down), nothing is: the clinic is marked due (``tenants.outbox_due_at``, see
:func:`mark_due`) and the periodic sweep relays it.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import db, queue
from .models import OutboxMessage


def emit(sess: Session, tenant_id: uuid.UUID, topic: str, payload: dict) -> OutboxMessage:
    """Write a message for the workers in the current transaction."""
    msg = message(sess, tenant_id, topic, payload)
    sess.add(msg)
    return msg


def message(sess: Session, tenant_id: uuid.UUID, topic: str, payload: dict) -> OutboxMessage:
    """A message the caller writes in ``sess``'s transaction; the relay is kicked on commit."""
    msg = OutboxMessage(id=uuid.uuid4(), tenant_id=tenant_id, topic=topic, payload=payload)
    tid = str(tenant_id)
    db.after_commit(sess, f"relay:{tid}", lambda: kick(tid))
    return msg


log = logging.getLogger(__name__)

#: States of messages still to be worked on (the partial index ``ix_outbox_due``).
PENDING_STATES = ("queued", "sending", "failed")


def kick(tenant_id: str) -> None:
    """Start the clinic's relay now; if the queue is unreachable, leave it to the sweep."""
    try:
        queue.send("relay_outbox", tenant_id)
    except Exception:  # noqa: BLE001 - the rows are committed: the sweep finds the clinic
        log.warning("relay kick lost; the sweep will relay", extra={"tenant_id": tenant_id})
        with db.tenant_session(tenant_id) as sess:
            mark_due(sess, tenant_id)


def mark_due(sess: Session, tenant_id) -> None:
    """Record on the clinic when its next pending message falls due (None: nothing pending).

    The clinic's row is locked first, so the time is computed in a statement that sees
    every message committed before the lock was granted: two writers cannot leave a stale
    time behind. ``sess`` is bound to the clinic (the outbox is read under RLS).
    """
    params = {"t": str(tenant_id), "pending": list(PENDING_STATES)}
    sess.execute(text("SELECT 1 FROM tenants WHERE id = :t FOR UPDATE"), params)
    sess.execute(
        text(
            "UPDATE tenants SET outbox_due_at = (SELECT min(next_attempt_at) FROM outbox"
            " WHERE tenant_id = :t AND state = ANY(:pending)) WHERE id = :t"
        ),
        params,
    )
