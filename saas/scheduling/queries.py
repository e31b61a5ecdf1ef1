"""Read helpers, each scoped to one clinic in the query itself (RLS is the safety net).

``search_slots`` is the hot path: a handful of indexed queries, each leading with
``tenant_id`` and bounded by the searched range, then the pure engine in ``slots.py``.
Its cost grows with the clinic's own calendar in the range, never with the platform.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from saas.exceptions import Invalid, not_found
from saas.models import utcnow

from . import catalogue
from . import slots as engine
from .models import (
    ACTIVE_STATUSES,
    Appointment,
    AvailabilityException,
    AvailabilityRule,
    Closure,
    Location,
    Practitioner,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
)
from .rules import EffectiveRules, effective_rules

MARGIN = dt.timedelta(days=1)
#: The longest range one slot search or schedule listing may cover: one request costs at most
#: two months of one clinic's calendar.
MAX_RANGE = dt.timedelta(days=62)
#: Longest visit (12 h) plus its longest buffers (4 h each): bounds index range scans.
MAX_VISIT_SPAN = dt.timedelta(hours=12 + 4 + 4)
MAX_BUFFER = dt.timedelta(hours=4)
#: Longest time off (``practice.availability_exceptions.MAX_TIME_OFF``, a year and a day).
MAX_EXCEPTION = dt.timedelta(days=367)


def bounded_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``(start, end)`` when it is a range of at most :data:`MAX_RANGE`; else 422 on ``to``."""
    if end <= start:
        raise Invalid(
            "The end of the range must be after its start.",
            reason="invalid_range",
            errors={"to": "Must be after 'from'."},
        )
    if end - start > MAX_RANGE:
        raise Invalid(
            f"Search at most {MAX_RANGE.days} days at a time.",
            reason="range_too_long",
            errors={"to": f"At most {MAX_RANGE.days} days after 'from'."},
        )
    return start, end


def get_location_in_tenant(sess: Session, tenant_id, location_id) -> Location | None:
    """The clinic's location with this id (None for missing and for another clinic's)."""
    return sess.scalar(
        select(Location).where(Location.tenant_id == tenant_id, Location.id == location_id)
    )


def get_practitioner_in_tenant(sess: Session, tenant_id, practitioner_id) -> Practitioner | None:
    """The clinic's practitioner with this id."""
    return sess.scalar(
        select(Practitioner).where(
            Practitioner.tenant_id == tenant_id, Practitioner.id == practitioner_id
        )
    )


def get_visit_type_in_tenant(sess: Session, tenant_id, visit_type_id) -> VisitType | None:
    """The clinic's visit type with this id."""
    return sess.scalar(
        select(VisitType).where(VisitType.tenant_id == tenant_id, VisitType.id == visit_type_id)
    )


def get_appointment_in_tenant(
    sess: Session, tenant_id, appointment_id, *, for_update: bool = False
) -> Appointment | None:
    """The clinic's appointment with this id (row-locked with ``for_update``)."""
    q = select(Appointment).where(
        Appointment.tenant_id == tenant_id, Appointment.id == appointment_id
    )
    if for_update:
        q = q.with_for_update()
    return sess.scalar(q)


def visit_type_practitioner_ids(sess: Session, tenant_id, visit_type_id) -> list[uuid.UUID]:
    """Practitioners offering a visit type."""
    return list(
        sess.scalars(
            select(VisitTypePractitioner.practitioner_id).where(
                VisitTypePractitioner.tenant_id == tenant_id,
                VisitTypePractitioner.service_id == visit_type_id,
            )
        )
    )


def visit_type_location_ids(sess: Session, tenant_id, visit_type_id) -> list[uuid.UUID]:
    """Locations offering a visit type."""
    return list(
        sess.scalars(
            select(VisitTypeLocation.location_id).where(
                VisitTypeLocation.tenant_id == tenant_id,
                VisitTypeLocation.service_id == visit_type_id,
            )
        )
    )


def visit_type_links(
    sess: Session, tenant_id, visit_type_id
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(practitioner ids, location ids) offering a visit type, archived ones included."""
    return (
        visit_type_practitioner_ids(sess, tenant_id, visit_type_id),
        visit_type_location_ids(sess, tenant_id, visit_type_id),
    )


#: A practitioner offering a visit type at a location (both active).
Offering = catalogue.Offer


def offerings(
    sess: Session, tenant_id, visit_type_id, *, practitioner_id=None, location_id=None
) -> list[Offering]:
    """Active (practitioner, location) pairs that offer a visit type."""
    sp, sl = VisitTypePractitioner, VisitTypeLocation
    q = (
        select(
            sp.practitioner_id,
            Practitioner.display_name,
            sl.location_id,
            Location.name,
            Location.kind,
            Location.timezone,
        )
        .join(sl, and_(sl.tenant_id == sp.tenant_id, sl.service_id == sp.service_id))
        .join(
            Practitioner,
            and_(Practitioner.tenant_id == sp.tenant_id, Practitioner.id == sp.practitioner_id),
        )
        .join(Location, and_(Location.tenant_id == sl.tenant_id, Location.id == sl.location_id))
        .where(
            sp.tenant_id == tenant_id,
            sp.service_id == visit_type_id,
            Practitioner.is_active.is_(True),
            Location.is_active.is_(True),
        )
    )
    if practitioner_id is not None:
        q = q.where(sp.practitioner_id == practitioner_id)
    if location_id is not None:
        q = q.where(sl.location_id == location_id)
    return [
        Offering(*row) for row in sess.execute(q.order_by(Practitioner.display_name, Location.name))
    ]


def visit_of(visit_type: VisitType) -> engine.Visit:
    """The engine's view of a visit type."""
    return engine.Visit(
        duration=dt.timedelta(minutes=visit_type.duration_minutes),
        buffer_before=dt.timedelta(minutes=visit_type.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=visit_type.buffer_after_minutes),
    )


def load_schedule(
    sess: Session,
    tenant_id,
    practitioner_ids: list[uuid.UUID],
    zones: dict[uuid.UUID, str],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    exclude_appointment_id: uuid.UUID | None = None,
    busy: dict | None = None,
) -> engine.Schedule:
    """The part of one clinic's calendar that can affect starts in ``[start, end)``.

    ``zones`` maps the locations of interest to their IANA zone names. Lapsed holds are
    not busy (they are expired in all but name); ``exclude_appointment_id`` is an
    appointment being rescheduled, whose own time must not block its new time. The
    practice part comes from the clinic's catalogue when it is current (:mod:`.catalogue`);
    ``busy`` passes busy times the caller already read (:func:`busy_query`).
    """
    lo, hi = start - MARGIN, end + MARGIN
    location_ids = list(zones)
    cat = catalogue.current(sess, tenant_id)
    if cat is not None and cat.covers(lo):
        windows, extra, time_off, closures = cat.practice_schedule(
            practitioner_ids, location_ids, lo, hi
        )
    else:
        windows, extra, time_off, closures = _practice_schedule(
            sess, tenant_id, practitioner_ids, location_ids, lo, hi
        )
    if busy is None:
        busy = read_busy(
            sess, busy_query(tenant_id, practitioner_ids, lo, hi, now, exclude_appointment_id)
        )
    return engine.Schedule(
        zones={lid: ZoneInfo(name) for lid, name in zones.items()},
        windows=windows,
        extra_hours=extra,
        time_off=time_off,
        closures=closures,
        busy_by_practitioner=busy,
    )


def _practice_schedule(sess: Session, tenant_id, practitioner_ids, location_ids, lo, hi):
    """(windows, extra hours, time off, closures) around ``[lo, hi)``, from the database."""
    windows = [
        engine.WeeklyWindow(*row)
        for row in sess.execute(
            select(
                AvailabilityRule.practitioner_id,
                AvailabilityRule.location_id,
                AvailabilityRule.weekday,
                AvailabilityRule.start_time,
                AvailabilityRule.end_time,
                AvailabilityRule.valid_from,
                AvailabilityRule.valid_until,
            ).where(
                AvailabilityRule.tenant_id == tenant_id,
                AvailabilityRule.practitioner_id.in_(practitioner_ids),
                AvailabilityRule.location_id.in_(location_ids),
                or_(
                    AvailabilityRule.valid_from.is_(None),
                    AvailabilityRule.valid_from <= hi.date() + MARGIN,
                ),
                or_(
                    AvailabilityRule.valid_until.is_(None),
                    AvailabilityRule.valid_until >= lo.date() - MARGIN,
                ),
            )
        )
    ]
    extra, time_off = [], []
    for pid, lid, kind, s, e in sess.execute(
        select(
            AvailabilityException.practitioner_id,
            AvailabilityException.location_id,
            AvailabilityException.kind,
            AvailabilityException.starts_at,
            AvailabilityException.ends_at,
        ).where(
            AvailabilityException.tenant_id == tenant_id,
            AvailabilityException.practitioner_id.in_(practitioner_ids),
            AvailabilityException.starts_at < hi,
            AvailabilityException.starts_at > lo - MAX_EXCEPTION,  # bounded index range
            AvailabilityException.ends_at > lo,
        )
    ):
        (extra if kind == "extra_hours" else time_off).append(engine.Span(pid, s, e, lid))
    closures = [
        engine.ClosureDays(*row)
        for row in sess.execute(
            select(Closure.location_id, Closure.start_date, Closure.end_date).where(
                Closure.tenant_id == tenant_id,
                or_(Closure.location_id.is_(None), Closure.location_id.in_(location_ids)),
                Closure.start_date <= hi.date() + MARGIN,
                Closure.end_date >= lo.date() - MARGIN,
            )
        )
    ]
    return windows, extra, time_off, closures


def busy_query(tenant_id, practitioner_ids, lo, hi, now, exclude_appointment_id=None):
    """Busy time of some practitioners around ``[lo, hi)``: (practitioner, starts, ends) rows.

    Bounded on start_at too, so the (tenant_id, practitioner_id, start_at) index reads only
    this range, never the practitioner's whole history: a visit lasts at most 12 hours and
    its buffers at most 4 hours each (CHECK constraints on visit_types). Aggregated per
    practitioner: a handful of rows of two arrays instead of one row per appointment.
    """
    busy_q = (
        select(
            Appointment.practitioner_id,
            func.array_agg(func.lower(Appointment.occupied)).label("starts"),
            func.array_agg(func.upper(Appointment.occupied)).label("ends"),
        )
        .where(
            Appointment.tenant_id == tenant_id,
            Appointment.practitioner_id.in_(practitioner_ids),
            Appointment.status.in_(ACTIVE_STATUSES),
            Appointment.occupied.op("&&")(func.tstzrange(lo, hi)),
            Appointment.start_at > lo - MAX_VISIT_SPAN,
            Appointment.start_at < hi + MAX_BUFFER,
            or_(Appointment.status != "held", Appointment.hold_expires_at > now),
        )
        .group_by(Appointment.practitioner_id)
    )
    if exclude_appointment_id is not None:
        busy_q = busy_q.where(Appointment.id != exclude_appointment_id)
    return busy_q


def busy_intervals(starts, ends) -> list[tuple[dt.datetime, dt.datetime]]:
    """Aggregated busy arrays as UTC (start, end) pairs."""
    return [
        (s.astimezone(dt.UTC), e.astimezone(dt.UTC))
        for s, e in zip(starts or (), ends or (), strict=True)
    ]


def read_busy(sess: Session, busy_q) -> dict:
    """Busy (start, end) pairs by practitioner id."""
    return {pid: busy_intervals(starts, ends) for pid, starts, ends in sess.execute(busy_q)}


@dataclass
class SlotSearch:
    """The result of :func:`search_slots`."""

    visit_type: VisitType
    rules: EffectiveRules
    offerings: list[Offering]
    slots: list[engine.Slot]


def _as_uuid(value):
    """``value`` as a UUID; None, or text that is not one, stays as it is (then not found)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return value


def search_slots(
    sess: Session,
    tenant_id,
    visit_type_id,
    start: dt.datetime,
    end: dt.datetime,
    *,
    practitioner_id=None,
    location_id=None,
    now: dt.datetime | None = None,
) -> SlotSearch:
    """Free starts of an active visit type in ``[start, end)``, for some or all of its offers.

    With a current catalogue (:mod:`.catalogue`) the practice costs no query and the result
    is served from :data:`~.catalogue.FREE_TIMES` until the clinic's schedule changes.
    Ids may be given as text (a caller's JSON): the catalogue is keyed by UUID.
    """
    now = now or utcnow()
    visit_type_id = _as_uuid(visit_type_id)
    practitioner_id, location_id = _as_uuid(practitioner_id), _as_uuid(location_id)
    cat = catalogue.current(sess, tenant_id)
    if cat is None:
        visit_type = get_visit_type_in_tenant(sess, tenant_id, visit_type_id)
        if visit_type is None or not visit_type.is_active:
            raise not_found("visit type", "service_id")
        offers = offerings(
            sess, tenant_id, visit_type.id, practitioner_id=practitioner_id, location_id=location_id
        )
        rules = effective_rules(sess, tenant_id, visit_type.id)
        key = None
    else:
        visit_type = cat.visit_types.get(visit_type_id)
        if visit_type is None or not visit_type.is_active:
            raise not_found("visit type", "service_id")
        offers = cat.offerings(
            visit_type.id, practitioner_id=practitioner_id, location_id=location_id
        )
        rules = cat.rules_for(visit_type.id)
        key = catalogue.free_times_key(
            sess, cat, visit_type.id, practitioner_id, location_id, start, end
        )
        if key is not None:
            found = catalogue.FREE_TIMES.get(key, now)
            if found is not None:
                fresh = catalogue.fresh(found, now, rules.policy().min_notice)
                return SlotSearch(visit_type, rules, offers, fresh)
    if not offers:
        return SlotSearch(visit_type, rules, [], [])
    schedule = load_schedule(
        sess,
        tenant_id,
        sorted({o.practitioner_id for o in offers}),
        {o.location_id: o.timezone for o in offers},
        start,
        end,
        now,
    )
    found = engine.free_slots(
        schedule,
        visit_of(visit_type),
        rules.policy(),
        [(o.practitioner_id, o.location_id) for o in offers],
        start,
        end,
        now,
    )
    if key is not None:
        catalogue.FREE_TIMES.put(key, now, found)
    return SlotSearch(visit_type, rules, offers, found)


def free_days(
    sess: Session,
    tenant_id,
    visit_type_id,
    start: dt.datetime,
    end: dt.datetime,
    zone: ZoneInfo,
    *,
    practitioner_id=None,
    now: dt.datetime | None = None,
) -> dict[dt.date, int]:
    """How many free starts :func:`search_slots` would give on each local day of ``zone``.

    The month view's question, answered in one pass over the month
    (:func:`~.slots.free_starts_by_day`: the same starts, without building and sorting a
    month of slots) and cached like :func:`search_slots`; starts that came inside the
    minimum notice since are not counted. Agrees with asking day by day
    (``tests/portal/test_month_view.py``, on a month with a DST change).
    """
    now = now or utcnow()
    cat = catalogue.current(sess, tenant_id)
    key = None
    if cat is None:
        visit_type = get_visit_type_in_tenant(sess, tenant_id, visit_type_id)
        if visit_type is None or not visit_type.is_active:
            raise not_found("visit type", "service_id")
        offers = offerings(sess, tenant_id, visit_type.id, practitioner_id=practitioner_id)
        rules = effective_rules(sess, tenant_id, visit_type.id)
    else:
        visit_type = cat.visit_types.get(visit_type_id)
        if visit_type is None or not visit_type.is_active:
            raise not_found("visit type", "service_id")
        offers = cat.offerings(visit_type.id, practitioner_id=practitioner_id)
        rules = cat.rules_for(visit_type.id)
        key = catalogue.free_times_key(
            sess, cat, "days", visit_type.id, practitioner_id, start, end, zone.key
        )
    policy = rules.policy()
    if key is not None and (days := catalogue.FREE_TIMES.get(key, now)) is not None:
        return engine.count_from(days, now + policy.min_notice)
    if not offers:
        return {}
    schedule = load_schedule(
        sess,
        tenant_id,
        sorted({o.practitioner_id for o in offers}),
        {o.location_id: o.timezone for o in offers},
        start,
        end,
        now,
    )
    days = engine.free_starts_by_day(
        schedule,
        visit_of(visit_type),
        policy,
        [(o.practitioner_id, o.location_id) for o in offers],
        start,
        end,
        now,
        zone,
    )
    if key is not None:
        catalogue.FREE_TIMES.put(key, now, days)
    return engine.count_from(days, now + policy.min_notice)


#: Windows :func:`next_free` searches in turn, in days from now (short first: a busy clinic's
#: next times are usually near, and a short search is cheap).
NEXT_FREE_WINDOWS = (1, 4, 14)
#: The start of those windows moves in steps of this, so their cached results serve a while.
NEXT_FREE_STEP = dt.timedelta(minutes=5)


def next_free(
    sess: Session, tenant_id, visit_type_id, count: int, *, now: dt.datetime | None = None
) -> list[engine.Slot]:
    """The first ``count`` free starts of a visit type within 14 days (the public page's list).

    Searches widening windows and stops as soon as it has enough; each window is a cached
    :func:`search_slots` query (its start is ``now`` rounded down to :data:`NEXT_FREE_STEP`).
    """
    now = now or utcnow()
    anchor = dt.datetime.fromtimestamp(
        now.timestamp() // NEXT_FREE_STEP.total_seconds() * NEXT_FREE_STEP.total_seconds(), dt.UTC
    )
    found: list[engine.Slot] = []
    lo = anchor
    for days in NEXT_FREE_WINDOWS:
        hi = anchor + dt.timedelta(days=days)
        found += search_slots(sess, tenant_id, visit_type_id, lo, hi, now=now).slots
        if len(found) >= count:
            break
        lo = hi
    return found[:count]


def returning_patient_clause(tenant_id, patient_id, *, now: dt.datetime):
    """EXISTS: the patient has (or had) a visit (see :func:`is_returning_patient`)."""
    return (
        select(Appointment.id)
        .where(
            Appointment.tenant_id == tenant_id,
            Appointment.patient_id == patient_id,
            or_(
                Appointment.status.in_(("confirmed", "checked_in", "completed")),
                and_(Appointment.status == "held", Appointment.hold_expires_at > now),
            ),
        )
        .exists()
    )


def is_returning_patient(sess: Session, tenant_id, patient_id, *, now: dt.datetime) -> bool:
    """True when the patient has (or had) a visit: completed, checked in, confirmed or a live hold.

    Cancelled, no-show and expired bookings do not count: a patient who never had a
    case-taking is still new.
    """
    return bool(sess.scalar(select(returning_patient_clause(tenant_id, patient_id, now=now))))
