"""The platform audit log: every operator action, append-only and hash-chained.

One chain for the whole platform (``seq`` 1, 2, 3...), linked like a clinic's chain
(:mod:`saas.audit`): ``hash = sha256(prev_hash || canonical entry)``. Writers are serialised
by a transaction-scoped advisory lock, and ``seq`` is the primary key as the last line of
defence. An action that concerns a clinic names it (``clinic_id``) and is written to the
clinic's own log as well by the service that acts (the clinic sees what was done to it).
Entries keep facts (who, what, which clinic, why), never clinical data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

from flask import g, has_request_context, request
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from saas.actors import Actor
from saas.models import PlatformAuditEntry, utcnow

GENESIS = "0" * 64
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('platform-audit', 0))")


def _canonical(entry: PlatformAuditEntry) -> str:
    return json.dumps(
        {
            "seq": entry.seq,
            "kind": entry.actor_kind,
            "actor_id": str(entry.operator_id) if entry.operator_id else None,
            "actor": entry.actor_label,
            "action": entry.action,
            "clinic_id": str(entry.clinic_id) if entry.clinic_id else None,
            "target": entry.target,
            "ip": str(entry.ip) if entry.ip is not None else None,
            "request_id": entry.request_id,
            "data": entry.data,
            "at": entry.created_at.astimezone(dt.UTC).isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def entry_hash(prev_hash: str, entry: PlatformAuditEntry) -> str:
    """The chain link: sha256(prev_hash || canonical entry)."""
    return hashlib.sha256((prev_hash + _canonical(entry)).encode()).hexdigest()


def record(
    sess: Session,
    action: str,
    *,
    actor: Actor,
    tenant_id: uuid.UUID | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> PlatformAuditEntry:
    """Append one entry; the caller's transaction commits it (or drops it on rollback)."""
    sess.flush()
    sess.execute(_LOCK)
    last = sess.execute(
        select(PlatformAuditEntry.seq, PlatformAuditEntry.hash)
        .order_by(PlatformAuditEntry.seq.desc())
        .limit(1)
    ).first() or (0, GENESIS)
    ip = rid = None
    if has_request_context():
        ip, rid = request.remote_addr, g.get("request_id")
    entry = PlatformAuditEntry(
        seq=last[0] + 1,
        id=uuid.uuid4(),
        operator_id=actor.id if actor.kind == "operator" else None,
        actor_kind=actor.kind,
        actor_label=actor.label,
        action=action,
        clinic_id=tenant_id,
        target=target,
        ip=ip,
        request_id=rid,
        data=data or {},
        prev_hash=last[1],
        created_at=utcnow(),
    )
    entry.hash = entry_hash(last[1], entry)
    sess.add(entry)
    sess.flush()
    return entry


def verify_chain(sess: Session) -> int | None:
    """The seq of the first broken link, or None when the chain is intact."""
    prev = GENESIS
    for entry in sess.scalars(select(PlatformAuditEntry).order_by(PlatformAuditEntry.seq)):
        if entry.prev_hash != prev or entry_hash(prev, entry) != entry.hash:
            return entry.seq
        prev = entry.hash
    return None


def entries_for_tenant(sess: Session, tenant_id: uuid.UUID, limit: int = 100):
    """The latest operator actions that concern one clinic, newest first."""
    return sess.scalars(
        select(PlatformAuditEntry)
        .where(PlatformAuditEntry.clinic_id == tenant_id)
        .order_by(PlatformAuditEntry.seq.desc())
        .limit(limit)
    ).all()
