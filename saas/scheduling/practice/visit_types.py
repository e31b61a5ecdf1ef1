"""Visit types: what patients book (duration, price, buffers, mode), offered by whom where.

The model was called ``Service`` before; its columns elsewhere (``service_id`` on
appointments, rules and waitlist entries) and the API fields that carry them keep that name
for compatibility with stored data and clients.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

from ..models import VisitType, VisitTypeLocation, VisitTypePractitioner
from ..models.practice import SERVICE_MODES
from ..queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    visit_type_location_ids,
)
from .common import duplicate, flush_or_refuse

VISIT_TYPE_FIELDS = (
    "name",
    "description",
    "duration_minutes",
    "price_minor",
    "currency",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "mode",
    "new_patients_only",
    "returning_patients_only",
    "requires_prepayment",
    "is_active",
    "payment_mode",
    "deposit_minor",
    "deposit_percent",
    "reminder_offsets_minutes",
)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _check(sess: Session, tenant: Tenant, s: VisitType, practitioner_ids, location_ids) -> None:
    errors = {}
    if not (s.name or "").strip():
        errors["name"] = "Enter the visit type's name."
    if (s.payment_mode or "none") not in ("none", "deposit", "full"):
        errors["payment_mode"] = "Choose none, deposit or full."
    elif s.payment_mode == "deposit" and not (s.deposit_minor or s.deposit_percent):
        errors["deposit_minor"] = "Enter the deposit as an amount or as a percent of the price."
    if s.deposit_percent is not None and not 1 <= s.deposit_percent <= 100:
        errors["deposit_percent"] = "Use a percent from 1 to 100."
    if s.deposit_minor is not None and s.deposit_minor <= 0:
        errors["deposit_minor"] = "The deposit must be more than zero."
    offsets = s.reminder_offsets_minutes
    if offsets is not None and (
        len(offsets) > 4
        or len(set(offsets)) != len(offsets)
        or any(not 15 <= o <= 14 * 1440 for o in offsets)
    ):
        errors["reminder_offsets_minutes"] = (
            "Give at most 4 different times, each from 15 minutes to 14 days (in minutes)."
        )
    # online payment holds the booking until paid
    if s.payment_mode in ("deposit", "full"):
        s.requires_prepayment = True
    if not (isinstance(s.duration_minutes, int) and 5 <= s.duration_minutes <= 720):
        errors["duration_minutes"] = "Use a duration from 5 to 720 minutes."
    if s.price_minor is None or s.price_minor < 0:
        errors["price_minor"] = "The price cannot be negative."
    if not CURRENCY_RE.match(s.currency or ""):
        errors["currency"] = "Use a three-letter currency code such as EUR or INR."
    for f in ("buffer_before_minutes", "buffer_after_minutes"):
        value = getattr(s, f)
        if value is None or not 0 <= value <= 240:
            errors[f] = "Use a buffer from 0 to 240 minutes."
    if s.mode not in SERVICE_MODES:
        errors["mode"] = "Choose in_person, online or either."
    if s.new_patients_only and s.returning_patients_only:
        errors["returning_patients_only"] = (
            "A visit type cannot be for new patients only and returning patients only."
        )
    unknown = [
        str(i) for i in practitioner_ids if get_practitioner_in_tenant(sess, tenant.id, i) is None
    ]
    if unknown:
        errors["practitioner_ids"] = "Unknown practitioner: " + ", ".join(unknown)
    bad_locations = []
    for i in location_ids:
        loc = get_location_in_tenant(sess, tenant.id, i)
        if loc is None:
            bad_locations.append(f"unknown location {i}")
        elif s.mode != "either" and loc.kind != s.mode:
            bad_locations.append(
                f"{loc.name} is {loc.kind.replace('_', '-')}, "
                f"this visit type is {s.mode.replace('_', '-')}"
            )
    if bad_locations:
        errors["location_ids"] = "; ".join(bad_locations).capitalize() + "."
    if errors:
        raise Invalid(errors, reason="invalid")


def _flush(sess: Session) -> None:
    flush_or_refuse(
        sess, {"uq_services_tenant_name": duplicate("name", "A visit type with this name exists.")}
    )


def _set_links(sess: Session, tenant: Tenant, s: VisitType, practitioner_ids, location_ids) -> None:
    """Replace who offers ``s`` and where (None leaves that set as it is)."""
    if practitioner_ids is not None:
        sess.execute(
            delete(VisitTypePractitioner).where(
                VisitTypePractitioner.tenant_id == tenant.id,
                VisitTypePractitioner.service_id == s.id,
            )
        )
        sess.add_all(
            VisitTypePractitioner(tenant_id=tenant.id, service_id=s.id, practitioner_id=p)
            for p in dict.fromkeys(practitioner_ids)
        )
    if location_ids is not None:
        sess.execute(
            delete(VisitTypeLocation).where(
                VisitTypeLocation.tenant_id == tenant.id, VisitTypeLocation.service_id == s.id
            )
        )
        sess.add_all(
            VisitTypeLocation(tenant_id=tenant.id, service_id=s.id, location_id=loc)
            for loc in dict.fromkeys(location_ids)
        )


def create_visit_type(sess: Session, tenant: Tenant, actor, data: dict) -> VisitType:
    """Add a visit type, offered by ``practitioner_ids`` at ``location_ids``."""
    s = VisitType(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        price_minor=0,
        currency=tenant.currency,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        mode="in_person",
        new_patients_only=False,
        returning_patients_only=False,
        requires_prepayment=False,
        is_active=True,
    )
    for f in VISIT_TYPE_FIELDS:
        if f in data and data[f] is not None:
            setattr(s, f, data[f])
    s.name = (s.name or "").strip()
    s.currency = (s.currency or "").upper()
    practitioner_ids = data.get("practitioner_ids") or []
    location_ids = data.get("location_ids") or []
    _check(sess, tenant, s, practitioner_ids, location_ids)
    sess.add(s)
    _flush(sess)
    _set_links(sess, tenant, s, practitioner_ids, location_ids)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.service_created",
        actor=actor,
        target=f"service:{s.id}",
        data={"name": s.name, "duration_minutes": s.duration_minutes, "price_minor": s.price_minor},
    )
    return s


def update_visit_type(sess: Session, tenant: Tenant, actor, s: VisitType, data: dict) -> VisitType:
    """Change a visit type; ``practitioner_ids``/``location_ids`` replace the current sets."""
    for f in VISIT_TYPE_FIELDS:
        if f in data:
            value = data[f]
            if f == "currency" and value:
                value = value.upper()
            setattr(s, f, value.strip() if isinstance(value, str) and f == "name" else value)
    practitioner_ids = data.get("practitioner_ids")
    location_ids = data.get("location_ids")
    with sess.no_autoflush:
        _check(
            sess,
            tenant,
            s,
            practitioner_ids if practitioner_ids is not None else [],
            location_ids
            if location_ids is not None
            else visit_type_location_ids(sess, tenant.id, s.id),
        )
    _flush(sess)
    _set_links(sess, tenant, s, practitioner_ids, location_ids)
    sess.flush()
    changed = {
        k: (str(v) if isinstance(v, uuid.UUID) else v)
        for k, v in data.items()
        if k in VISIT_TYPE_FIELDS and k != "description"
    }
    audit.record(
        sess,
        tenant.id,
        "practice.service_updated",
        actor=actor,
        target=f"service:{s.id}",
        data=changed,
    )
    return s
