"""The transactional outbox: messages and jobs are rows written with the change.

``emit`` adds a message (an email, a notification) and :func:`saas.jobs.enqueue` a job, in
the caller's transaction; once that transaction commits, the clinic's relay is kicked (a
dramatiq message sent by name: the core never imports ``workers``). If the kick is lost
(Redis down), nothing is: the periodic sweep relays pending rows.
"""

from __future__ import annotations

import uuid

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
    db.after_commit(sess, f"relay:{tid}", lambda: queue.send("relay_outbox", tid))
    return msg
