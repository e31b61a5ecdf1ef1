"""The transactional outbox: messages are rows written with the change, relayed after commit.

``emit`` adds a row in the caller's transaction and remembers the clinic on the session;
after the session commits, ``workers.outbox.relay`` is enqueued for that clinic. If the
enqueue fails (Redis down), nothing is lost: the periodic sweep relays pending rows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import event
from sqlalchemy.orm import Session

from .models import OutboxMessage

_PENDING = "similia.outbox_tenants"
#: Called with a tenant id after a commit that wrote outbox rows (set by the app/worker).
after_commit_hook = None


def emit(sess: Session, tenant_id: uuid.UUID, topic: str, payload: dict) -> OutboxMessage:
    """Write a message for the notification workers in the current transaction."""
    msg = OutboxMessage(id=uuid.uuid4(), tenant_id=tenant_id, topic=topic, payload=payload)
    sess.add(msg)
    sess.info.setdefault(_PENDING, set()).add(str(tenant_id))
    return msg


@event.listens_for(Session, "after_commit")
def _after_commit(sess: Session) -> None:
    tenants = sess.info.pop(_PENDING, None)
    if tenants and after_commit_hook is not None:
        for tenant_id in tenants:
            after_commit_hook(tenant_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(sess: Session) -> None:
    sess.info.pop(_PENDING, None)
