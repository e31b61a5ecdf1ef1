"""Booking rules: the clinic's defaults and a visit type's overrides (see :mod:`..rules`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

from ..models import BookingRules, VisitType
from ..rules import RULE_FIELDS, SERVICE_ONLY, rule_problems


def set_booking_rules(
    sess: Session, tenant: Tenant, actor, values: dict, *, visit_type: VisitType | None = None
) -> BookingRules:
    """Set the clinic's rules (``visit_type`` None) or one visit type's; None inherits."""
    values = {k: v for k, v in values.items() if k in RULE_FIELDS}
    if visit_type is None and (bad := [k for k in SERVICE_ONLY if values.get(k) is not None]):
        raise Invalid(
            {k: "Set the follow-up interval on a visit type." for k in bad}, reason="invalid"
        )
    if errors := rule_problems(values):
        raise Invalid(errors, reason="invalid")
    service_id = visit_type.id if visit_type else None
    row = sess.scalar(
        select(BookingRules).where(
            BookingRules.tenant_id == tenant.id,
            BookingRules.service_id.is_(None)
            if service_id is None
            else BookingRules.service_id == service_id,
        )
    )
    if row is None:
        row = BookingRules(id=uuid.uuid4(), tenant_id=tenant.id, service_id=service_id)
        sess.add(row)
    for k, v in values.items():
        setattr(row, k, v)
    if errors := rule_problems({k: getattr(row, k) for k in RULE_FIELDS}):
        raise Invalid(errors, reason="invalid")
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.booking_rules_set",
        actor=actor,
        target=f"service:{service_id}" if service_id else "clinic",
        data=values,
    )
    return row
