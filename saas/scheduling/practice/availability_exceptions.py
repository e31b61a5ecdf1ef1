"""Exceptions to the weekly hours: time off (blocks time) and extra hours (adds time).

Decisions: naive times are wall-clock times of the location (or, for time off at every
location, of the clinic); time off lasts at most a year and a day, extra hours at most 24
hours, which also bounds the slot search's index range scans
(:data:`saas.scheduling.queries.MAX_EXCEPTION`).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

from ..models import AvailabilityException
from ..models.practice import EXCEPTION_KINDS
from ..queries import get_location_in_tenant, get_practitioner_in_tenant
from ..slots import local_to_utc

MAX_TIME_OFF = dt.timedelta(days=366)
MAX_EXTRA_HOURS = dt.timedelta(hours=24)


def localize(value: dt.datetime, zone_name: str) -> dt.datetime:
    """An aware instant: naive values are wall-clock times in ``zone_name``."""
    if value.tzinfo is not None:
        return value
    return local_to_utc(value, zoneinfo.ZoneInfo(zone_name))


def create_exception(sess: Session, tenant: Tenant, actor, data: dict) -> AvailabilityException:
    """Add time off or extra hours. Naive times are read in the location's (or clinic's) zone."""
    errors = {}
    kind = data.get("kind")
    if kind not in EXCEPTION_KINDS:
        errors["kind"] = "Choose time_off or extra_hours."
    practitioner = get_practitioner_in_tenant(sess, tenant.id, data.get("practitioner_id"))
    if practitioner is None:
        errors["practitioner_id"] = "Unknown practitioner."
    loc = None
    if data.get("location_id") is not None:
        loc = get_location_in_tenant(sess, tenant.id, data["location_id"])
        if loc is None:
            errors["location_id"] = "Unknown location."
    elif kind == "extra_hours":
        errors["location_id"] = "Choose where the extra hours are."
    if errors:
        raise Invalid(errors, reason="invalid")
    zone = loc.timezone if loc else tenant.timezone
    start, end = localize(data["start"], zone), localize(data["end"], zone)
    if end <= start:
        raise Invalid({"end": "The end must be after the start."}, reason="invalid")
    if end - start > (MAX_EXTRA_HOURS if kind == "extra_hours" else MAX_TIME_OFF):
        raise Invalid(
            {"end": "Extra hours are at most 24 hours; time off at most a year."}, reason="invalid"
        )
    exc = AvailabilityException(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        practitioner_id=practitioner.id,
        location_id=loc.id if loc else None,
        kind=kind,
        starts_at=start,
        ends_at=end,
        reason=(data.get("reason") or "").strip() or None,
    )
    sess.add(exc)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        f"practice.{kind}_created",
        actor=actor,
        target=f"exception:{exc.id}",
        data={
            "practitioner_id": str(practitioner.id),
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
    )
    return exc


def delete_exception(sess: Session, tenant: Tenant, actor, exc: AvailabilityException) -> None:
    """Remove time off or extra hours."""
    sess.delete(exc)
    sess.flush()
    audit.record(
        sess, tenant.id, f"practice.{exc.kind}_deleted", actor=actor, target=f"exception:{exc.id}"
    )


def get_exception_in_tenant(sess: Session, tenant_id, exception_id) -> AvailabilityException | None:
    """The clinic's availability exception with this id."""
    return sess.scalar(
        select(AvailabilityException).where(
            AvailabilityException.tenant_id == tenant_id, AvailabilityException.id == exception_id
        )
    )
