"""Practice configuration verbs: locations, practitioners, services, hours, closures, rules.

Each verb validates the *resulting* state (so a PATCH is checked like a POST), raises
:class:`~saas.scheduling.errors.SchedulingError` with field errors, writes an audit entry
and flushes; the caller commits. Removing a location, practitioner or service archives it
(``is_active = false``): appointments keep pointing at it and it stops being bookable.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
import zoneinfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas import audit
from saas.models import Tenant, User

from .errors import SchedulingError, field_errors, not_found
from .models import (
    AvailabilityException,
    AvailabilityRule,
    BookingRules,
    Closure,
    Location,
    Practitioner,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
)
from .models.practice import EXCEPTION_KINDS, LOCATION_KINDS, SERVICE_MODES
from .queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_service_in_tenant,
    service_location_ids,
    service_practitioner_ids,
)
from .rules import RULE_FIELDS, SERVICE_ONLY, rule_problems

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FEED_NAME_MODES = ("initials", "full", "none")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
URL_RE = re.compile(r"^https://[^\s/$.?#][^\s]*$|^http://[^\s/$.?#][^\s]*$", re.I)
MAX_TIME_OFF = dt.timedelta(days=366)
MAX_EXTRA_HOURS = dt.timedelta(hours=24)
MAX_CLOSURE_DAYS = 366


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(name: str | None) -> str | None:
    """Why ``name`` is not an IANA time zone, or None."""
    if name in _zones():
        return None
    return "Unknown time zone: choose an IANA name such as Europe/Berlin or Asia/Kolkata."


def _require_name(errors: dict, data: dict, field: str, label: str) -> None:
    if field in data and not (data[field] or "").strip():
        errors[field] = f"Enter the {label}."


def _unique_violation(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _flush_unique(sess: Session, constraint_fields: dict[str, tuple[str, str]]) -> None:
    """Flush; turn a unique violation into a 409 field error."""
    try:
        with sess.begin_nested():
            sess.flush()
    except IntegrityError as exc:
        name = _unique_violation(exc)
        if name in constraint_fields:
            field, message = constraint_fields[name]
            raise SchedulingError(
                message, status=409, reason="duplicate", errors={field: message}
            ) from exc
        raise


def _label(actor) -> dict:
    return {"actor": actor}


# -- locations ---------------------------------------------------------------------------------

LOCATION_FIELDS = ("name", "kind", "address", "timezone", "is_active")


def _check_location(loc: Location) -> None:
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
        raise field_errors(errors)


def create_location(sess: Session, tenant: Tenant, actor, data: dict) -> Location:
    """Add a location; its time zone defaults to the clinic's."""
    loc = Location(id=uuid.uuid4(), tenant_id=tenant.id, kind="in_person", is_active=True)
    for f in LOCATION_FIELDS:
        if f in data:
            setattr(loc, f, data[f])
    loc.timezone = data.get("timezone") or tenant.timezone
    loc.name = (loc.name or "").strip()
    _check_location(loc)
    sess.add(loc)
    _flush_unique(sess, {"uq_locations_tenant_name": ("name", "A location with this name exists.")})
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
    """Change a location's fields."""
    for f in LOCATION_FIELDS:
        if f in data:
            setattr(loc, f, data[f].strip() if isinstance(data[f], str) else data[f])
    with sess.no_autoflush:
        _check_location(loc)
    _flush_unique(sess, {"uq_locations_tenant_name": ("name", "A location with this name exists.")})
    audit.record(
        sess,
        tenant.id,
        "practice.location_updated",
        actor=actor,
        target=f"location:{loc.id}",
        data={k: data[k] for k in LOCATION_FIELDS if k in data},
    )
    return loc


# -- practitioners -----------------------------------------------------------------------------

PRACTITIONER_FIELDS = ("display_name", "title", "bio", "photo_url", "is_active", "user_id")


def _check_practitioner(sess: Session, tenant: Tenant, p: Practitioner) -> None:
    errors = {}
    if not (p.display_name or "").strip():
        errors["display_name"] = "Enter the practitioner's name."
    if p.photo_url and not URL_RE.match(p.photo_url):
        errors["photo_url"] = "Use an http(s) address of an image."
    if p.user_id is not None:
        user = sess.scalar(select(User).where(User.tenant_id == tenant.id, User.id == p.user_id))
        if user is None:
            errors["user_id"] = "Unknown staff account."
    if errors:
        raise field_errors(errors)


def create_practitioner(sess: Session, tenant: Tenant, actor, data: dict) -> Practitioner:
    """Add a practitioner profile (optionally linked to a staff account)."""
    p = Practitioner(id=uuid.uuid4(), tenant_id=tenant.id, is_active=True)
    for f in PRACTITIONER_FIELDS:
        if f in data:
            setattr(p, f, data[f])
    p.display_name = (p.display_name or "").strip()
    _check_practitioner(sess, tenant, p)
    sess.add(p)
    _flush_unique(
        sess,
        {
            "uq_practitioners_tenant_user": (
                "user_id",
                "This staff account already has a practitioner profile.",
            )
        },
    )
    audit.record(
        sess,
        tenant.id,
        "practice.practitioner_created",
        actor=actor,
        target=f"practitioner:{p.id}",
        data={"display_name": p.display_name},
    )
    return p


def update_practitioner(
    sess: Session, tenant: Tenant, actor, p: Practitioner, data: dict
) -> Practitioner:
    """Change a practitioner's profile."""
    for f in PRACTITIONER_FIELDS:
        if f in data:
            setattr(p, f, data[f].strip() if isinstance(data[f], str) else data[f])
    with sess.no_autoflush:
        _check_practitioner(sess, tenant, p)
    _flush_unique(
        sess,
        {
            "uq_practitioners_tenant_user": (
                "user_id",
                "This staff account already has a practitioner profile.",
            )
        },
    )
    audit.record(
        sess,
        tenant.id,
        "practice.practitioner_updated",
        actor=actor,
        target=f"practitioner:{p.id}",
        data={k: str(data[k]) for k in ("display_name", "is_active", "user_id") if k in data},
    )
    return p


# -- services ----------------------------------------------------------------------------------

SERVICE_FIELDS = (
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
)


def _check_service(
    sess: Session, tenant: Tenant, s: VisitType, practitioner_ids, location_ids
) -> None:
    errors = {}
    if not (s.name or "").strip():
        errors["name"] = "Enter the visit type's name."
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
        raise field_errors(errors)


def _set_links(sess: Session, tenant: Tenant, s: VisitType, practitioner_ids, location_ids) -> None:
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


def create_service(sess: Session, tenant: Tenant, actor, data: dict) -> VisitType:
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
    for f in SERVICE_FIELDS:
        if f in data and data[f] is not None:
            setattr(s, f, data[f])
    s.name = (s.name or "").strip()
    s.currency = (s.currency or "").upper()
    practitioner_ids = data.get("practitioner_ids") or []
    location_ids = data.get("location_ids") or []
    _check_service(sess, tenant, s, practitioner_ids, location_ids)
    sess.add(s)
    _flush_unique(
        sess, {"uq_services_tenant_name": ("name", "A visit type with this name exists.")}
    )
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


def update_service(sess: Session, tenant: Tenant, actor, s: VisitType, data: dict) -> VisitType:
    """Change a visit type; ``practitioner_ids``/``location_ids`` replace the current sets."""
    for f in SERVICE_FIELDS:
        if f in data:
            value = data[f]
            if f == "currency" and value:
                value = value.upper()
            setattr(s, f, value.strip() if isinstance(value, str) and f == "name" else value)
    practitioner_ids = data.get("practitioner_ids")
    location_ids = data.get("location_ids")
    with sess.no_autoflush:
        _check_service(
            sess,
            tenant,
            s,
            practitioner_ids if practitioner_ids is not None else [],
            location_ids
            if location_ids is not None
            else service_location_ids(sess, tenant.id, s.id),
        )
    _flush_unique(
        sess, {"uq_services_tenant_name": ("name", "A visit type with this name exists.")}
    )
    _set_links(sess, tenant, s, practitioner_ids, location_ids)
    sess.flush()
    changed = {
        k: (str(v) if isinstance(v, uuid.UUID) else v)
        for k, v in data.items()
        if k in SERVICE_FIELDS and k != "description"
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


def visit_type_links(
    sess: Session, tenant_id, service_id
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(practitioner ids, location ids) offering a service."""
    return service_practitioner_ids(sess, tenant_id, service_id), service_location_ids(
        sess, tenant_id, service_id
    )


# -- weekly availability -----------------------------------------------------------------------

RULE_WINDOW_FIELDS = (
    "practitioner_id",
    "location_id",
    "weekday",
    "start_time",
    "end_time",
    "valid_from",
    "valid_until",
)


def _ranges_overlap(a_from, a_until, b_from, b_until) -> bool:
    lo = max(a_from or dt.date.min, b_from or dt.date.min)
    hi = min(a_until or dt.date.max, b_until or dt.date.max)
    return lo <= hi


def _check_window(sess: Session, tenant: Tenant, w: AvailabilityRule) -> None:
    errors = {}
    if get_practitioner_in_tenant(sess, tenant.id, w.practitioner_id) is None:
        errors["practitioner_id"] = "Unknown practitioner."
    loc = get_location_in_tenant(sess, tenant.id, w.location_id)
    if loc is None:
        errors["location_id"] = "Unknown location."
    if not (isinstance(w.weekday, int) and 1 <= w.weekday <= 7):
        errors["weekday"] = "Use 1 (Monday) to 7 (Sunday)."
    if w.start_time is not None and w.end_time is not None and w.end_time <= w.start_time:
        errors["end_time"] = "The end must be after the start."
    if w.valid_from and w.valid_until and w.valid_until < w.valid_from:
        errors["valid_until"] = "The last day cannot be before the first day."
    if errors:
        raise field_errors(errors)
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
            raise SchedulingError(
                "This window overlaps another weekly window of the practitioner.",
                status=422,
                reason="overlapping_window",
                errors={
                    "start_time": (
                        f"Overlaps {WEEKDAYS[o.weekday - 1]} "
                        f"{o.start_time:%H:%M}–{o.end_time:%H:%M}"
                        f" at {other_loc.name if other_loc else 'another location'}."
                    )
                },
            )


def _flush_window(sess: Session) -> None:
    """Flush; the exclusion constraint backs up the overlap check under concurrency."""
    try:
        with sess.begin_nested():
            sess.flush()
    except IntegrityError as exc:
        if _unique_violation(exc) == "ex_availability_rules_overlap":
            raise SchedulingError(
                "This window overlaps another weekly window of the practitioner.",
                reason="overlapping_window",
                errors={"start_time": "Overlaps another window of this practitioner."},
            ) from exc
        raise


def create_availability_rule(sess: Session, tenant: Tenant, actor, data: dict) -> AvailabilityRule:
    """Add a weekly window; refuses overlaps with the practitioner's other windows."""
    w = AvailabilityRule(id=uuid.uuid4(), tenant_id=tenant.id)
    for f in RULE_WINDOW_FIELDS:
        setattr(w, f, data.get(f))
    _check_window(sess, tenant, w)
    sess.add(w)
    _flush_window(sess)
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
    for f in RULE_WINDOW_FIELDS:
        if f in data:
            setattr(w, f, data[f])
    with sess.no_autoflush:
        _check_window(sess, tenant, w)
    _flush_window(sess)
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


def get_availability_rule_in_tenant(sess: Session, tenant_id, rule_id) -> AvailabilityRule | None:
    """The clinic's weekly window with this id."""
    return sess.scalar(
        select(AvailabilityRule).where(
            AvailabilityRule.tenant_id == tenant_id, AvailabilityRule.id == rule_id
        )
    )


# -- exceptions (time off, extra hours) ----------------------------------------------------------


def localize(value: dt.datetime, zone_name: str) -> dt.datetime:
    """An aware instant: naive values are wall-clock times in ``zone_name``."""
    if value.tzinfo is not None:
        return value
    from .slots import local_to_utc

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
        raise field_errors(errors)
    zone = loc.timezone if loc else tenant.timezone
    start, end = localize(data["start"], zone), localize(data["end"], zone)
    if end <= start:
        raise field_errors({"end": "The end must be after the start."})
    limit = MAX_EXTRA_HOURS if kind == "extra_hours" else MAX_TIME_OFF
    if end - start > limit:
        raise field_errors({"end": "Extra hours are at most 24 hours; time off at most a year."})
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


# -- closures ----------------------------------------------------------------------------------


def create_closure(sess: Session, tenant: Tenant, actor, data: dict) -> Closure:
    """Close the clinic (or one location) on whole days: holidays, training days..."""
    errors = {}
    _require_name(
        errors, {"name": data.get("name") or ""}, "name", "closure's name (e.g. Christmas)"
    )
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
        raise field_errors(errors)
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


# -- booking rules and settings ------------------------------------------------------------------


def set_booking_rules(
    sess: Session, tenant: Tenant, actor, values: dict, *, service: VisitType | None = None
) -> BookingRules:
    """Set the clinic's rules (``service`` None) or one service's overrides; None inherits."""
    values = {k: v for k, v in values.items() if k in RULE_FIELDS}
    if service is None and (bad := [k for k in SERVICE_ONLY if values.get(k) is not None]):
        raise field_errors({k: "Set the follow-up interval on a visit type." for k in bad})
    if errors := rule_problems(values):
        raise field_errors(errors)
    service_id = service.id if service else None
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
    merged = {k: getattr(row, k) for k in RULE_FIELDS}
    if errors := rule_problems(merged):
        raise field_errors(errors)
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


def get_service_or_404(sess: Session, tenant_id, service_id) -> VisitType:
    """The clinic's service, or a 404 :class:`SchedulingError`."""
    s = get_service_in_tenant(sess, tenant_id, service_id)
    if s is None:
        raise not_found("service")
    return s


def feed_name_mode(tenant: Tenant) -> str:
    """How patient names appear in calendar feeds: initials (default), full or none."""
    mode = (tenant.settings or {}).get("patient_names_in_feeds", "initials")
    return mode if mode in FEED_NAME_MODES else "initials"


def set_feed_name_mode(sess: Session, tenant: Tenant, actor, mode: str) -> None:
    """Choose how patient names appear in calendar feeds (a clinic setting)."""
    if mode not in FEED_NAME_MODES:
        raise field_errors({"patient_names_in_feeds": "Choose initials, full or none."})
    tenant.settings = {**(tenant.settings or {}), "patient_names_in_feeds": mode}
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.feed_privacy_set",
        actor=actor,
        data={"patient_names_in_feeds": mode},
    )
