"""The audit log: append-only, hash-chained per clinic.

Entries are written by services in the same transaction as the change they record. The
chain is serialised per clinic with a transaction-scoped advisory lock, so two concurrent
writers cannot fork it; ``(tenant_id, seq)`` is unique as the last line of defence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

from flask import g, has_request_context, request
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from . import db
from .actors import Actor, as_actor
from .models import AuditEntry, utcnow

GENESIS = "0" * 64
_HEADS = "similia.audit_heads"
_HEAD_SQL = text("SELECT seq, hash FROM audit_head(:tid)")
_INSERT = insert(AuditEntry.__table__)


@event.listens_for(Session, "after_begin")
@event.listens_for(Session, "after_soft_rollback")
def _forget_heads(sess: Session, *args) -> None:
    """A new transaction (or a rolled-back savepoint) no longer holds what it remembered."""
    sess.info.pop(_HEADS, None)


def holds_chain(sess: Session, tenant_id) -> bool:
    """True when this transaction holds the clinic's audit-chain lock."""
    return str(tenant_id) in sess.info.get(_HEADS, {})


def _canonical(entry: AuditEntry) -> str:
    ip = str(entry.ip) if entry.ip is not None else None  # INET reads back as an ip object
    extra = {"kind": entry.actor_kind} if entry.actor_kind is not None else {}
    return json.dumps(
        {
            **extra,
            "seq": entry.seq,
            "actor_id": str(entry.actor_id) if entry.actor_id else None,
            "actor": entry.actor_label,
            "action": entry.action,
            "target": entry.target,
            "ip": ip,
            "request_id": entry.request_id,
            "data": entry.data,
            "at": entry.created_at.astimezone(dt.UTC).isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    """The chain link: sha256(prev_hash || canonical entry)."""
    return hashlib.sha256((prev_hash + _canonical(entry)).encode()).hexdigest()


def record(
    sess: Session,
    tenant_id: uuid.UUID,
    action: str,
    *,
    actor: Actor | None = None,
    actor_label: str | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Append one entry for ``tenant_id``; the caller's transaction commits it.

    ``actor`` is an :class:`~saas.actors.Actor` (a staff ``User`` or a ``Patient`` is taken
    as one); None is the system. ``actor_label`` overrides the label for an unauthenticated
    attempt (the email typed at a failed sign-in).
    """
    # no actor but a label: an attempt by someone not identified (a refused sign-in)
    who = Actor.anonymous(actor_label) if actor is None and actor_label else as_actor(actor)
    heads = sess.info.setdefault(_HEADS, {})
    last = heads.get(str(tenant_id))
    if last is None:
        sess.flush()  # the domain rows first: the chain's lock is held until commit
        last = sess.execute(_HEAD_SQL, {"tid": str(tenant_id)}).first() or (0, GENESIS)
    seq, prev = last[0] + 1, last[1]
    ip = rid = None
    if has_request_context():
        ip = request.remote_addr
        rid = g.get("request_id")
    entry = AuditEntry(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        seq=seq,
        actor_id=who.id,
        actor_kind=who.kind,
        actor_label=actor_label or who.label,
        action=action,
        target=target,
        ip=ip,
        request_id=rid,
        data=data or {},
        prev_hash=prev,
        created_at=utcnow(),
    )
    entry.hash = entry_hash(prev, entry)
    sess.flush()  # whatever the caller added comes first, as before the entry
    sess.execute(_INSERT, db.row_values(entry))  # a plain INSERT: no unit-of-work bookkeeping
    db.adopt(sess, entry)
    heads[str(tenant_id)] = (seq, entry.hash)
    return entry


def verify_chain(sess: Session, tenant_id: uuid.UUID) -> int | None:
    """Return the seq of the first broken link, or None when the chain is intact."""
    prev = GENESIS
    rows = sess.scalars(
        select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.seq)
    )
    for entry in rows:
        if entry.prev_hash != prev or entry_hash(prev, entry) != entry.hash:
            return entry.seq
        prev = entry.hash
    return None


def count(sess: Session, tenant_id: uuid.UUID, action: str | None = None) -> int:
    """Number of entries (of one action) in a clinic's log."""
    q = select(func.count()).select_from(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if action:
        q = q.where(AuditEntry.action == action)
    return sess.scalar(q)
