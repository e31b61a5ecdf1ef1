"""Jobs through the outbox: work is enqueued by name in the transaction that causes it.

``enqueue(sess, tenant_id, "assemble_export", export_id=...)`` writes an outbox row with
topic ``job.assemble_export``; it exists only if the change commits, and it is handed to
the actor after commit by the relay (``workers/jobs.py`` maps names to actors). So a job is
never lost between commit and enqueue, and never runs for a change that rolled back — the
pattern of Zulip's ``queue_event_on_commit`` and Warehouse's after-commit tasks.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from . import outbox
from .models import OutboxMessage

PREFIX = "job."


def enqueue(sess: Session, tenant_id: uuid.UUID, name: str, **kwargs) -> OutboxMessage:
    """Schedule job ``name(tenant_id=..., **kwargs)`` to run after this transaction commits."""
    return outbox.emit(sess, tenant_id, PREFIX + name, {str(k): v for k, v in kwargs.items()})
