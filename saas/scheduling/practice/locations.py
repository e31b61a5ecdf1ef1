"""Locations: where visits happen (a practice address, or online), each with its time zone."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.inputs import timezone_problem
from saas.models import Tenant

from ..models import Location
from ..models.practice import LOCATION_KINDS
from .common import duplicate, flush_or_refuse

LOCATION_FIELDS = ("name", "kind", "address", "timezone", "is_active")


def _check(loc: Location) -> None:
    errors = {}
    if not (loc.name or "").strip():
        errors["name"] = "Enter the location's name."
    if loc.kind not in LOCATION_KINDS:
        errors["kind"] = "Choose in_person or online."
    elif loc.kind == "in_person" and not (loc.address or "").strip():
        errors["address"] = "Enter the address patients come to."
    if problem := timezone_problem(loc.timezone):
        errors["timezone"] = problem
    if errors:
        raise Invalid(errors, reason="invalid")


def _plan_allows(sess: Session, tenant: Tenant) -> None:
    """Refuse one more active location beyond the plan (409 ``plan_limit``)."""
    from billing.limits import ensure_room  # billing builds on scheduling, not the reverse

    ensure_room(sess, tenant, "max_locations")


def _flush(sess: Session) -> None:
    flush_or_refuse(
        sess, {"uq_locations_tenant_name": duplicate("name", "A location with this name exists.")}
    )


def create_location(sess: Session, tenant: Tenant, actor, data: dict) -> Location:
    """Add a location; its time zone defaults to the clinic's."""
    loc = Location(id=uuid.uuid4(), tenant_id=tenant.id, kind="in_person", is_active=True)
    for f in LOCATION_FIELDS:
        if f in data:
            setattr(loc, f, data[f])
    loc.timezone = data.get("timezone") or tenant.timezone
    loc.name = (loc.name or "").strip()
    _check(loc)
    if loc.is_active:
        _plan_allows(sess, tenant)
    sess.add(loc)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.location_created",
        actor=actor,
        target=f"location:{loc.id}",
        data={"name": loc.name, "timezone": loc.timezone, "kind": loc.kind},
    )
    return loc


def update_location(sess: Session, tenant: Tenant, actor, loc: Location, data: dict) -> Location:
    """Change a location's fields (``is_active=False`` archives it)."""
    if data.get("is_active") is True and not loc.is_active:
        _plan_allows(sess, tenant)  # re-activating counts as adding
    for f in LOCATION_FIELDS:
        if f in data:
            setattr(loc, f, data[f].strip() if isinstance(data[f], str) else data[f])
    with sess.no_autoflush:
        _check(loc)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.location_updated",
        actor=actor,
        target=f"location:{loc.id}",
        data={k: data[k] for k in LOCATION_FIELDS if k in data},
    )
    return loc
