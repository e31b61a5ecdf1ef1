"""Closures: whole days the clinic (or one location) is closed — holidays, training days."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

from ..models import Closure
from ..queries import get_location_in_tenant

MAX_CLOSURE_DAYS = 366


def create_closure(sess: Session, tenant: Tenant, actor, data: dict) -> Closure:
    """Close on whole days (inclusive; ``end_date`` defaults to ``start_date``)."""
    errors = {}
    if not (data.get("name") or "").strip():
        errors["name"] = "Enter the closure's name (e.g. Christmas)."
    loc = None
    if data.get("location_id") is not None:
        loc = get_location_in_tenant(sess, tenant.id, data["location_id"])
        if loc is None:
            errors["location_id"] = "Unknown location."
    start, end = data.get("start_date"), data.get("end_date") or data.get("start_date")
    if start and end and end < start:
        errors["end_date"] = "The last day cannot be before the first day."
    elif start and end and (end - start).days >= MAX_CLOSURE_DAYS:
        errors["end_date"] = "A closure lasts at most a year."
    if errors:
        raise Invalid(errors, reason="invalid")
    c = Closure(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        location_id=loc.id if loc else None,
        name=data["name"].strip(),
        start_date=start,
        end_date=end,
    )
    sess.add(c)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.closure_created",
        actor=actor,
        target=f"closure:{c.id}",
        data={"name": c.name, "start": start.isoformat(), "end": end.isoformat()},
    )
    return c


def delete_closure(sess: Session, tenant: Tenant, actor, c: Closure) -> None:
    """Reopen: remove a closure."""
    sess.delete(c)
    sess.flush()
    audit.record(sess, tenant.id, "practice.closure_deleted", actor=actor, target=f"closure:{c.id}")


def get_closure_in_tenant(sess: Session, tenant_id, closure_id) -> Closure | None:
    """The clinic's closure with this id."""
    return sess.scalar(
        select(Closure).where(Closure.tenant_id == tenant_id, Closure.id == closure_id)
    )
