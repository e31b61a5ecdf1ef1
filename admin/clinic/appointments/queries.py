"""Read helpers of the console's calendar, each scoped to one clinic in the query itself.

One calendar page costs a fixed handful of queries whatever the number of practitioners
and days: the practitioners, the appointments of the range (one join), the schedule the
slot engine reads (:func:`saas.scheduling.queries.load_schedule`: hours, time off,
closures) and the closures' names. Layout is :mod:`.grid`'s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from saas import audit, db
from saas.fields import FieldOpener
from saas.models import Patient, Tenant, utcnow
from saas.scheduling import slots as engine
from saas.scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityRule,
    Closure,
    Location,
    Practitioner,
    VisitType,
)
from saas.scheduling.queries import (
    MAX_VISIT_SPAN,
    get_visit_type_in_tenant,
    load_schedule,
    offerings,
    visit_of,
)
from saas.scheduling.rules import effective_rules
from saas.scheduling.states import allowed_actions

from . import grid

#: States drawn on the calendar (expired holds are not: their time is free again).
SHOWN = ("held", "confirmed", "checked_in", "completed", "no_show", "cancelled")


def practitioners_in_tenant(sess: Session, tenant_id) -> list[Practitioner]:
    """The clinic's active practitioners, by name."""
    return list(
        sess.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == tenant_id, Practitioner.is_active.is_(True))
            .order_by(Practitioner.display_name, Practitioner.id)
        )
    )


def practitioner_of_user(sess: Session, tenant_id, user_id) -> Practitioner | None:
    """The practitioner profile linked to a staff account, if any."""
    return sess.scalar(
        select(Practitioner).where(
            Practitioner.tenant_id == tenant_id,
            Practitioner.user_id == user_id,
            Practitioner.is_active.is_(True),
        )
    )


def appointments_between(
    sess: Session, tenant_id, start: dt.datetime, end: dt.datetime, practitioner_ids=None
) -> list[dict]:
    """Shown appointments overlapping ``[start, end)``, with names, earliest first."""
    q = (
        select(Appointment, Patient.full_name, Practitioner.display_name, VisitType.name)
        .join(
            Patient,
            (Patient.tenant_id == Appointment.tenant_id) & (Patient.id == Appointment.patient_id),
        )
        .join(
            Practitioner,
            (Practitioner.tenant_id == Appointment.tenant_id)
            & (Practitioner.id == Appointment.practitioner_id),
        )
        .join(
            VisitType,
            (VisitType.tenant_id == Appointment.tenant_id)
            & (VisitType.id == Appointment.service_id),
        )
        .where(
            Appointment.tenant_id == tenant_id,
            Appointment.start_at > start - MAX_VISIT_SPAN,  # bounded index range
            Appointment.start_at < end,
            Appointment.end_at > start,
            Appointment.status.in_(SHOWN),
        )
        .order_by(Appointment.start_at, Practitioner.display_name)
    )
    if practitioner_ids is not None:
        q = q.where(Appointment.practitioner_id.in_(practitioner_ids))
    now = utcnow()
    return [
        {
            "appt": appt,
            "status": appt.effective_status(now),
            "patient": patient,
            "practitioner": practitioner,
            "service": service,
        }
        for appt, patient, practitioner, service in sess.execute(q)
    ]


def _closures(sess: Session, tenant_id, first: dt.date, last: dt.date) -> list[Closure]:
    return list(
        sess.scalars(
            select(Closure).where(
                Closure.tenant_id == tenant_id,
                Closure.start_date <= last,
                Closure.end_date >= first,
            )
        )
    )


def _time_off(sess: Session, tenant_id, ids, start, end) -> list[AvailabilityException]:
    return list(
        sess.scalars(
            select(AvailabilityException).where(
                AvailabilityException.tenant_id == tenant_id,
                AvailabilityException.practitioner_id.in_(ids),
                AvailabilityException.kind == "time_off",
                AvailabilityException.starts_at < end,
                AvailabilityException.ends_at > start,
            )
        )
    )


@dataclasses.dataclass(slots=True)
class Visit:
    """What the calendar draws of one appointment (read as plain columns, not ORM objects)."""

    id: uuid.UUID
    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    status: str  #: effective: a lapsed hold is ``expired``
    start_at: dt.datetime
    end_at: dt.datetime
    patient: str
    service: str
    time: str = ""  #: ``HH:MM–HH:MM`` in the clinic's zone
    #: when a still-running hold lapses (the visit then reads as ``expired``), else None
    lapses_at: dt.datetime | None = None


def visits_between(
    sess: Session, tenant_id, start: dt.datetime, end: dt.datetime, practitioner_ids
) -> list[Visit]:
    """Shown appointments of some practitioners overlapping ``[start, end)``.

    Read as Core rows on the session's connection (bound to the clinic like every
    statement of the request): a week's 370 visits skip the ORM's per-row loading.
    """
    conn = sess.connection()
    rows = conn.execute(
        select(
            Appointment.id,
            Appointment.practitioner_id,
            Appointment.location_id,
            Appointment.status,
            Appointment.hold_expires_at,
            Appointment.start_at,
            Appointment.end_at,
            Patient.full_name,
            VisitType.name,
        )
        .join(
            Patient,
            (Patient.tenant_id == Appointment.tenant_id) & (Patient.id == Appointment.patient_id),
        )
        .join(
            VisitType,
            (VisitType.tenant_id == Appointment.tenant_id)
            & (VisitType.id == Appointment.service_id),
        )
        .where(
            Appointment.tenant_id == tenant_id,
            Appointment.practitioner_id.in_(practitioner_ids),
            Appointment.start_at > start - MAX_VISIT_SPAN,  # bounded index range
            Appointment.start_at < end,
            Appointment.end_at > start,
            Appointment.status.in_(SHOWN),
        )
        .order_by(Appointment.start_at)
    ).all()
    now = utcnow()
    return [
        Visit(
            aid,
            pid,
            lid,
            "expired" if status == "held" and hold is not None and hold <= now else status,
            s,
            e,
            patient,
            service,
            lapses_at=hold if status == "held" and hold is not None and hold > now else None,
        )
        for aid, pid, lid, status, hold, s, e, patient, service in rows
    ]


def _hours_schedule(sess: Session, tenant_id, ids, locations: dict, start, end) -> engine.Schedule:
    """Weekly windows and extra hours only: what :func:`engine.availability` expands.

    The calendar draws visits itself, so it skips the busy-time aggregation of
    :func:`saas.scheduling.queries.load_schedule` (the costly part of a week's read).
    """
    conn = sess.connection()
    windows = [
        engine.WeeklyWindow(*row)
        for row in conn.execute(
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
                AvailabilityRule.practitioner_id.in_(ids),
                AvailabilityRule.location_id.in_(list(locations)),
                or_(
                    AvailabilityRule.valid_from.is_(None),
                    AvailabilityRule.valid_from <= end.date() + dt.timedelta(days=1),
                ),
                or_(
                    AvailabilityRule.valid_until.is_(None),
                    AvailabilityRule.valid_until >= start.date() - dt.timedelta(days=1),
                ),
            )
        )
    ]
    extra = [
        engine.Span(pid, s, e, lid)
        for pid, lid, s, e in conn.execute(
            select(
                AvailabilityException.practitioner_id,
                AvailabilityException.location_id,
                AvailabilityException.starts_at,
                AvailabilityException.ends_at,
            ).where(
                AvailabilityException.tenant_id == tenant_id,
                AvailabilityException.practitioner_id.in_(ids),
                AvailabilityException.kind == "extra_hours",
                AvailabilityException.starts_at < end,
                AvailabilityException.ends_at > start,
            )
        )
    ]
    return engine.Schedule(
        zones={lid: ZoneInfo(name) for lid, name in locations.items()},
        windows=windows,
        extra_hours=extra,
    )


def _by_day(spans, zone: ZoneInfo) -> dict:
    """``{local date: [span, ...]}`` for every local date each ``(start, end, ...)`` touches."""
    out: dict = {}
    for span in spans:
        for day in _dates(span[0], span[1], zone):
            out.setdefault(day, []).append(span)
    return out


def _dates(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[dt.date]:
    """The local dates ``[start, end)`` touches (one, nearly always)."""
    day = start.astimezone(zone).date()
    last = (end - _TICK).astimezone(zone).date()
    if day == last:
        return [day]
    out = []
    while day <= last:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


_TICK = dt.timedelta(microseconds=1)


def _hour_span(start, end, day_start, day_end, zone: ZoneInfo) -> tuple[int, int]:
    """The wall-clock hours ``(first, last)`` that show ``[start, end)`` clipped to one day.

    What :func:`.grid.shown_hours` answers for the clipped span, without clipping it.
    """
    first = 0 if start <= day_start else start.astimezone(zone).hour
    if end >= day_end:
        return first, 24
    e = end.astimezone(zone)
    return first, e.hour + (1 if (e.minute or e.second) else 0)


def calendar(
    sess: Session,
    tenant: Tenant,
    days: list[dt.date],
    practitioners: list[Practitioner],
    *,
    whole_day: bool = False,
) -> dict:
    """Columns of ``practitioners`` for each day in ``days``, laid out (see :mod:`.grid`).

    Returns ``{"frames": {day: Frame}, "columns": {day: [Column]}, "visits": [...]}``.
    Work is grouped by practitioner and day first, so a week of ten practitioners costs
    one pass over its visits and hours, each instant converted to the clinic's zone once
    (the week view's budget: see the calendar benchmark in the README).
    """
    zone = ZoneInfo(tenant.timezone)
    bounds = {day: grid.day_bounds(day, zone) for day in days}
    first, last = bounds[days[0]][0], bounds[days[-1]][1]
    ids = [p.id for p in practitioners]
    visits = visits_between(sess, tenant.id, first, last, ids) if ids else []
    locations = dict(
        sess.connection()
        .execute(
            select(Location.id, Location.timezone).where(
                Location.tenant_id == tenant.id, Location.is_active.is_(True)
            )
        )
        .all()
    )
    schedule = _hours_schedule(sess, tenant.id, ids, locations, first, last) if ids else None
    prac_locations: dict = {pid: set() for pid in ids}
    if schedule is not None:
        for w in schedule.windows:
            prac_locations[w.practitioner_id].add(w.location_id)
        for x in schedule.extra_hours:
            prac_locations[x.practitioner_id].add(x.location_id)
    hours: dict = {}  # (practitioner, day) -> [(start, end)]
    for pid in ids:
        raw = []
        for lid in prac_locations[pid]:
            if lid in locations:
                raw += engine.availability(schedule, pid, lid, first, last)
        for a, b in engine._merge(raw):
            if b > first and a < last:
                for day in _dates(a, b, zone):
                    hours.setdefault((pid, day), []).append((a, b))
    visits_by_day: dict = {}
    for v in visits:
        ls, le = v.start_at.astimezone(zone), v.end_at.astimezone(zone)
        v.time = f"{ls:%H:%M}–{le:%H:%M}"
        if ls.date() == (le - _TICK).date():
            visits_by_day.setdefault(ls.date(), []).append((v.start_at, v.end_at, v))
        else:
            for day in _dates(v.start_at, v.end_at, zone):
                visits_by_day.setdefault(day, []).append((v.start_at, v.end_at, v))
    closures = _closures(sess, tenant.id, days[0], days[-1])
    time_off = _time_off(sess, tenant.id, ids, first, last) if ids else []
    off_by_day = _by_day([(t.starts_at, t.ends_at, t) for t in time_off], zone)
    # one window of wall-clock hours for every day shown, so rows line up across a week
    # (a DST day is still drawn in its real length)
    lo, hi = grid.shown_hours(zone, [], whole_day=whole_day)
    if not whole_day:
        for day in days:
            start, end = bounds[day]
            spans = [iv for pid in ids for iv in hours.get((pid, day), ())]
            spans += [(s, e) for s, e, _ in visits_by_day.get(day, ())]
            for a, b in spans:
                d_lo, d_hi = _hour_span(a, b, start, end, zone)
                lo, hi = min(lo, d_lo), max(hi, d_hi)
    frames = {day: grid.frame(day, zone, (lo, hi)) for day in days}
    columns = {}
    place = grid.place
    for day in days:
        fr = frames[day]
        cols = {p.id: grid.Column(p.id, p.display_name, fr) for p in practitioners}
        today_closed = [c for c in closures if c.start_date <= day <= c.end_date]
        for pid, col in cols.items():
            for a, b in hours.get((pid, day), ()):
                if (pos := place(fr, a, b)) is not None:
                    col.shades.append(grid.Block("work", *pos, "Working hours"))
            for c in today_closed:
                if c.location_id is None or c.location_id in prac_locations[pid]:
                    col.shades.append(grid.Block("closed", 1, fr.rows + 1, f"Closed: {c.name}"))
        for s, e, t in off_by_day.get(day, ()):
            if (pos := place(fr, s, e)) is not None:
                cols[t.practitioner_id].shades.append(grid.Block("time_off", *pos, "Time off"))
        for s, e, v in visits_by_day.get(day, ()):
            if (pos := place(fr, s, e)) is not None:
                cols[v.practitioner_id].blocks.append(grid.Block("appointment", *pos, item=v))
        for col in cols.values():
            col.lanes = grid.assign_lanes(col.blocks)
        columns[day] = list(cols.values())
    return {"frames": frames, "columns": columns, "visits": visits, "zone": zone}


def with_actions(item: dict, actor, now: dt.datetime) -> dict:
    """``item`` with the actions ``actor`` may take on it now (``allowed_actions``)."""
    return {**item, "allowed": allowed_actions(item["appt"], actor, now)}


# -- slots for staff -------------------------------------------------------------------------


@dataclasses.dataclass
class StaffSlot:
    """A free start the front desk may book or move a visit to."""

    start: dt.datetime  #: in the location's zone
    end: dt.datetime
    practitioner_id: uuid.UUID
    practitioner: str
    location_id: uuid.UUID
    location: str

    @property
    def value(self) -> str:
        """The form value naming this slot: ``<ISO start>|<practitioner>|<location>``."""
        return f"{self.start.isoformat()}|{self.practitioner_id}|{self.location_id}"


def staff_slots(
    sess: Session,
    tenant: Tenant,
    visit_type_id,
    day: dt.date,
    *,
    practitioner_id=None,
    exclude_appointment_id=None,
    now: dt.datetime | None = None,
) -> list[StaffSlot]:
    """Free starts of a visit type on a local ``day`` for booking or moving by staff.

    The slot engine's own answer (:func:`saas.scheduling.slots.free_slots`) on the same
    schedule the booking verb checks, with the visit type's step; like the verb for staff
    (``enforce_notice=not actor.is_staff``) it is not held to minimum notice or maximum
    advance, only to the present. ``exclude_appointment_id`` is a visit being moved, whose
    own time must not block its new one.
    """
    now = now or utcnow()
    visit_type = get_visit_type_in_tenant(sess, tenant.id, visit_type_id)
    if visit_type is None or not visit_type.is_active:
        return []
    offers = offerings(sess, tenant.id, visit_type.id, practitioner_id=practitioner_id)
    if not offers:
        return []
    zone = ZoneInfo(tenant.timezone)
    start, end = grid.day_bounds(day, zone)
    schedule = load_schedule(
        sess,
        tenant.id,
        sorted({o.practitioner_id for o in offers}),
        {o.location_id: o.timezone for o in offers},
        start,
        end,
        now,
        exclude_appointment_id=exclude_appointment_id,
    )
    rules = effective_rules(sess, tenant.id, visit_type.id)
    policy = dataclasses.replace(
        rules.policy(), min_notice=dt.timedelta(0), max_advance=dt.timedelta(days=3650)
    )
    found = engine.free_slots(
        schedule,
        visit_of(visit_type),
        policy,
        [(o.practitioner_id, o.location_id) for o in offers],
        start,
        end,
        now,
    )
    names = {o.practitioner_id: o.practitioner_name for o in offers}
    places = {o.location_id: o.location_name for o in offers}
    return [
        StaffSlot(
            s.start.astimezone(zone),
            s.end.astimezone(zone),
            s.practitioner_id,
            names[s.practitioner_id],
            s.location_id,
            places[s.location_id],
        )
        for s in found
    ]


# -- patients --------------------------------------------------------------------------------

PHONE_DIGITS = re.compile(r"\D+")
#: Phone searches open every active patient's sealed number; a clinic bigger than this is
#: asked to search by name or email instead (no blind index for phone numbers yet).
PHONE_SCAN_LIMIT = 20_000


def digits(value: str | None) -> str:
    """The digits of a phone number (``+44 20 7946 0018`` → ``442079460018``)."""
    return PHONE_DIGITS.sub("", value or "")


def patients_by_phone(sess: Session, tenant: Tenant, actor, phone: str) -> list[dict]:
    """Active patients whose phone number ends with the digits given (at least 6).

    Phone numbers are sealed and have no blind index, so the clinic's numbers are opened
    in memory (one data key, AES-GCM per row) and compared by their digits: ``0171 234567``
    finds ``+49 171 234567``. The search is audited like a name search, without the number.
    """
    wanted = digits(phone)
    if len(wanted) < 6:
        return []
    if wanted.startswith("0"):
        wanted = wanted.lstrip("0")
    opener = FieldOpener(sess, tenant.id)
    rows = sess.execute(
        select(Patient.id, Patient.full_name, Patient.phone, Patient.email)
        .where(
            Patient.tenant_id == tenant.id,
            Patient.status == "active",
            Patient.phone.is_not(None),
        )
        .order_by(func.lower(Patient.full_name), Patient.id)
        .limit(PHONE_SCAN_LIMIT)
    ).all()
    found = []
    for pid, name, sealed_phone, sealed_email in rows:
        number = opener.open("patients", "phone", pid, sealed_phone)
        if digits(number).endswith(wanted):
            found.append(
                {
                    "id": pid,
                    "full_name": name,
                    "phone": number,
                    "email": opener.open("patients", "email", pid, sealed_email),
                }
            )
    audit.record(
        sess,
        tenant.id,
        "patient.searched",
        actor=actor,
        data={"results": len(found), "by": ["phone"]},
    )
    return found[:50]


# -- live updates ----------------------------------------------------------------------------

#: Changes are looked for this far back: far longer than any transaction that writes one.
RECENT = dt.timedelta(minutes=10)


def schedule_version(sess: Session, tenant_id) -> str:
    """A short token that changes whenever the clinic's calendar may have changed.

    Normally the clinic's schedule counters (``config``: hours, closures, practitioners,
    visit types...; ``bookings``: every booking, move, cancellation and state change), which
    triggers bump in the changing transaction and :func:`saas.db.versions` reads with the
    clinic binding, so it costs no query. When they are not at hand (the transaction wrote
    already), the clinic's recent appointment changes are summed instead (count, sum and
    latest of ``updated_at`` over the last :data:`RECENT`, so a change committed late with an
    earlier timestamp still changes it: an index-only scan of ``ix_appointments_updated``).
    """
    counters = db.versions(sess)
    if counters is not None:
        return f"c{counters.config}b{counters.bookings}"
    row = sess.execute(
        text(
            "SELECT count(*), coalesce(sum(extract(epoch FROM updated_at)), 0), max(updated_at) "
            "FROM appointments WHERE tenant_id = :t AND updated_at > now() - :recent"
        ),
        {"t": tenant_id, "recent": RECENT},
    ).one()
    count, total, latest = row
    stamp = latest.timestamp() if latest else 0
    return f"r{count}-{float(total):.6f}-{stamp:.6f}".replace(".", "")
