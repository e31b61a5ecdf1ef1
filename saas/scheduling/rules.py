"""Booking rules: clinic defaults with per-visit-type overrides.

Decisions (defaults a homeopathic clinic would pick, see DOMAIN.md): 15-minute slot step,
12 hours minimum notice, 90 days maximum advance, 24 hours cancellation and reschedule
cutoff, no late-cancellation fee until the clinic sets one, 15-minute hold for bookings
awaiting prepayment, no suggested follow-up unless the visit type sets one (e.g. 28–42
days for a chronic follow-up). A visit type's row (``service_id``) overrides only the values
it sets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .models import BookingRules
from .slots import Policy


@dataclasses.dataclass(frozen=True)
class EffectiveRules:
    """The rules in force for one service (clinic defaults merged with its overrides)."""

    slot_step_minutes: int = 15
    min_notice_minutes: int = 12 * 60
    max_advance_days: int = 90
    cancellation_cutoff_minutes: int = 24 * 60
    late_cancellation_fee_minor: int = 0
    reschedule_cutoff_minutes: int = 24 * 60
    hold_minutes: int = 15
    follow_up_min_days: int | None = None
    follow_up_max_days: int | None = None

    def policy(self) -> Policy:
        """The part of the rules the slot engine applies."""
        return Policy(
            step=dt.timedelta(minutes=self.slot_step_minutes),
            min_notice=dt.timedelta(minutes=self.min_notice_minutes),
            max_advance=dt.timedelta(days=self.max_advance_days),
        )

    def follow_up_window(self, visit_start: dt.datetime) -> tuple[dt.date, dt.date] | None:
        """Suggested follow-up dates after a visit (local dates of ``visit_start``)."""
        if self.follow_up_min_days is None and self.follow_up_max_days is None:
            return None
        lo = self.follow_up_min_days or self.follow_up_max_days
        hi = self.follow_up_max_days or self.follow_up_min_days
        day = visit_start.date()
        return day + dt.timedelta(days=lo), day + dt.timedelta(days=hi)


DEFAULTS = EffectiveRules()
RULE_FIELDS = tuple(f.name for f in dataclasses.fields(EffectiveRules))
#: Fields a clinic-wide row may not set (they only make sense per service).
SERVICE_ONLY = ("follow_up_min_days", "follow_up_max_days")
LIMITS = {
    "slot_step_minutes": (5, 240),
    "min_notice_minutes": (0, 525_600),
    "max_advance_days": (1, 730),
    "cancellation_cutoff_minutes": (0, 43_200),
    "late_cancellation_fee_minor": (0, 10**12),
    "reschedule_cutoff_minutes": (0, 43_200),
    "hold_minutes": (1, 1440),
    "follow_up_min_days": (1, 730),
    "follow_up_max_days": (1, 730),
}


def merge(clinic: BookingRules | None, service: BookingRules | None) -> EffectiveRules:
    """Defaults, overridden by the clinic's row, overridden by the service's row."""
    values = dataclasses.asdict(DEFAULTS)
    for row in (clinic, service):
        if row is None:
            continue
        for name in RULE_FIELDS:
            value = getattr(row, name)
            if value is not None:
                values[name] = value
    return EffectiveRules(**values)


def rule_rows(sess: Session, tenant_id, service_id: uuid.UUID | None):
    """(clinic row, service row) of booking rules; either may be None."""
    rows = sess.scalars(
        select(BookingRules).where(
            BookingRules.tenant_id == tenant_id,
            or_(BookingRules.service_id.is_(None), BookingRules.service_id == service_id)
            if service_id is not None
            else BookingRules.service_id.is_(None),
        )
    ).all()
    clinic = next((r for r in rows if r.service_id is None), None)
    service = next((r for r in rows if r.service_id is not None), None)
    return clinic, service


def effective_rules(
    sess: Session, tenant_id, service_id: uuid.UUID | None = None
) -> EffectiveRules:
    """The rules in force for ``service_id`` (or the clinic's defaults)."""
    return merge(*rule_rows(sess, tenant_id, service_id))


def rule_problems(values: dict) -> dict[str, str]:
    """Field errors for a set of rule values (None = inherit)."""
    errors = {}
    for name, value in values.items():
        if value is None:
            continue
        lo, hi = LIMITS[name]
        if not lo <= value <= hi:
            errors[name] = f"Use a value from {lo} to {hi}."
    lo, hi = values.get("follow_up_min_days"), values.get("follow_up_max_days")
    if lo is not None and hi is not None and hi < lo and "follow_up_max_days" not in errors:
        errors["follow_up_max_days"] = "The latest follow-up day cannot be before the earliest."
    return errors
