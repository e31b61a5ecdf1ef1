"""Weekly availability: a practitioner's recurring hours at one location (wall-clock times).

Decisions: a practitioner's windows never overlap on the same weekday while their validity
ranges overlap, wherever they are (nobody is in two places at once); touching windows
(09:00–12:00 and 12:00–15:00) are fine. The exclusion constraint
``ex_availability_rules_overlap`` backs the friendly check up under concurrency.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

from ..models import AvailabilityRule
from ..queries import get_location_in_tenant, get_practitioner_in_tenant
from .common import flush_or_refuse

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WINDOW_FIELDS = (
    "practitioner_id",
    "location_id",
    "weekday",
    "start_time",
    "end_time",
    "valid_from",
    "valid_until",
)
OVERLAPS = "This window overlaps another weekly window of the practitioner."


def _ranges_overlap(a_from, a_until, b_from, b_until) -> bool:
    lo = max(a_from or dt.date.min, b_from or dt.date.min)
    hi = min(a_until or dt.date.max, b_until or dt.date.max)
    return lo <= hi


def _check(sess: Session, tenant: Tenant, w: AvailabilityRule) -> None:
    errors = {}
    if get_practitioner_in_tenant(sess, tenant.id, w.practitioner_id) is None:
        errors["practitioner_id"] = "Unknown practitioner."
    if get_location_in_tenant(sess, tenant.id, w.location_id) is None:
        errors["location_id"] = "Unknown location."
    if not (isinstance(w.weekday, int) and 1 <= w.weekday <= 7):
        errors["weekday"] = "Use 1 (Monday) to 7 (Sunday)."
    if w.start_time is not None and w.end_time is not None and w.end_time <= w.start_time:
        errors["end_time"] = "The end must be after the start."
    if w.valid_from and w.valid_until and w.valid_until < w.valid_from:
        errors["valid_until"] = "The last day cannot be before the first day."
    if errors:
        raise Invalid(errors, reason="invalid")
    others = sess.scalars(
        select(AvailabilityRule).where(
            AvailabilityRule.tenant_id == tenant.id,
            AvailabilityRule.practitioner_id == w.practitioner_id,
            AvailabilityRule.weekday == w.weekday,
            AvailabilityRule.id != w.id,
        )
    ).all()
    for o in others:
        if (
            o.start_time < w.end_time
            and w.start_time < o.end_time
            and _ranges_overlap(o.valid_from, o.valid_until, w.valid_from, w.valid_until)
        ):
            other_loc = get_location_in_tenant(sess, tenant.id, o.location_id)
            raise Invalid(
                OVERLAPS,
                reason="overlapping_window",
                errors={
                    "start_time": (
                        f"Overlaps {WEEKDAYS[o.weekday - 1]} "
                        f"{o.start_time:%H:%M}–{o.end_time:%H:%M}"
                        f" at {other_loc.name if other_loc else 'another location'}."
                    )
                },
            )


def _flush(sess: Session) -> None:
    flush_or_refuse(
        sess,
        {
            "ex_availability_rules_overlap": Invalid(
                OVERLAPS,
                reason="overlapping_window",
                errors={"start_time": "Overlaps another window of this practitioner."},
            )
        },
    )


def _window_data(w: AvailabilityRule) -> dict:
    return {
        "practitioner_id": str(w.practitioner_id),
        "location_id": str(w.location_id),
        "weekday": w.weekday,
        "start": w.start_time.isoformat("minutes"),
        "end": w.end_time.isoformat("minutes"),
        "valid_from": w.valid_from.isoformat() if w.valid_from else None,
        "valid_until": w.valid_until.isoformat() if w.valid_until else None,
    }


def create_availability_rule(sess: Session, tenant: Tenant, actor, data: dict) -> AvailabilityRule:
    """Add a weekly window; refuses overlaps with the practitioner's other windows."""
    w = AvailabilityRule(id=uuid.uuid4(), tenant_id=tenant.id)
    for f in WINDOW_FIELDS:
        setattr(w, f, data.get(f))
    _check(sess, tenant, w)
    sess.add(w)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.availability_created",
        actor=actor,
        target=f"availability:{w.id}",
        data=_window_data(w),
    )
    return w


def update_availability_rule(
    sess: Session, tenant: Tenant, actor, w: AvailabilityRule, data: dict
) -> AvailabilityRule:
    """Change a weekly window."""
    for f in WINDOW_FIELDS:
        if f in data:
            setattr(w, f, data[f])
    with sess.no_autoflush:
        _check(sess, tenant, w)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.availability_updated",
        actor=actor,
        target=f"availability:{w.id}",
        data=_window_data(w),
    )
    return w


def delete_availability_rule(sess: Session, tenant: Tenant, actor, w: AvailabilityRule) -> None:
    """Remove a weekly window (existing appointments stay)."""
    data = _window_data(w)
    sess.delete(w)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.availability_deleted",
        actor=actor,
        target=f"availability:{w.id}",
        data=data,
    )


def get_availability_rule_in_tenant(sess: Session, tenant_id, rule_id) -> AvailabilityRule | None:
    """The clinic's weekly window with this id."""
    return sess.scalar(
        select(AvailabilityRule).where(
            AvailabilityRule.tenant_id == tenant_id, AvailabilityRule.id == rule_id
        )
    )
