"""What the practice pages do that no single API verb does: built only from those verbs.

- :func:`set_weekly_hours` replaces a practitioner's open-ended weekly windows at one location
  with a grid's worth (each window through ``create_availability_rule``, so overlaps are
  refused exactly as in the API);
- :func:`bookings_in_closure` / :func:`bookings_in_time_off` list the active bookings a
  closure or time off would cover, and :func:`move_options` the free times to move each to;
- :func:`settle_bookings` cancels (with a reason the patient is told, through the outbox) or
  moves each covered booking with the booking verbs.

Decisions: a closure or time off that covers booked visits is saved only together with a
decision (cancel or move) for every covered booking, in the same transaction; if one move
fails (the time was just taken) nothing is saved and the page asks again. Dated weekly
windows (``valid_from``/``valid_until``, added below the grid or through the API) are left
alone by the grid and listed beside it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from saas.actors import Actor
from saas.exceptions import DomainError, Invalid
from saas.models import Patient, Tenant, User, utcnow
from saas.scheduling.models import (
    Appointment,
    AvailabilityRule,
    Location,
    Practitioner,
    VisitType,
)
from saas.scheduling.practice import availability, practitioners
from saas.scheduling.queries import get_appointment_in_tenant, search_slots
from saas.scheduling.services import cancel_appointment, reschedule_appointment

#: Bookings a closure or time off can cover (a visit checked in is already happening).
COVERABLE = ("held", "confirmed")
#: Free times offered per covered booking.
MOVE_OPTIONS = 8


# -- weekly hours ----------------------------------------------------------------------------
def open_windows(sess: Session, tenant_id, practitioner_id, location_id) -> list[AvailabilityRule]:
    """The open-ended weekly windows of one practitioner at one location, by day and time."""
    return list(
        sess.scalars(
            select(AvailabilityRule)
            .where(
                AvailabilityRule.tenant_id == tenant_id,
                AvailabilityRule.practitioner_id == practitioner_id,
                AvailabilityRule.location_id == location_id,
                AvailabilityRule.valid_from.is_(None),
                AvailabilityRule.valid_until.is_(None),
            )
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_time)
        )
    )


def dated_windows(sess: Session, tenant_id, practitioner_id) -> list[AvailabilityRule]:
    """A practitioner's windows with a validity range (kept as they are by the grid)."""
    return list(
        sess.scalars(
            select(AvailabilityRule)
            .where(
                AvailabilityRule.tenant_id == tenant_id,
                AvailabilityRule.practitioner_id == practitioner_id,
                (AvailabilityRule.valid_from.is_not(None))
                | (AvailabilityRule.valid_until.is_not(None)),
            )
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_time)
        )
    )


def set_weekly_hours(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    practitioner: Practitioner,
    location: Location,
    windows: list[tuple[int, int, dt.time, dt.time]],
) -> None:
    """Replace the open-ended windows at ``location`` with ``windows`` (weekday, slot, start, end).

    A refusal names the grid cell: ``Invalid`` with errors keyed ``d<weekday>_<slot>``.
    """
    unchanged = {
        (w.weekday, w.start_time, w.end_time)
        for w in open_windows(sess, tenant.id, practitioner.id, location.id)
    } == {(d, s, e) for d, _, s, e in windows}
    if unchanged:
        return
    for w in open_windows(sess, tenant.id, practitioner.id, location.id):
        availability.delete_availability_rule(sess, tenant, actor, w)
    for weekday, slot, start, end in sorted(windows, key=lambda w: (w[0], w[2])):
        try:
            availability.create_availability_rule(
                sess,
                tenant,
                actor,
                {
                    "practitioner_id": practitioner.id,
                    "location_id": location.id,
                    "weekday": weekday,
                    "start_time": start,
                    "end_time": end,
                },
            )
        except Invalid as exc:
            message = " ".join(exc.errors.values()) or exc.message
            raise Invalid({f"d{weekday}_{slot}": message}, reason=exc.reason) from exc


# -- practitioners from staff ----------------------------------------------------------------
def make_bookable(sess: Session, tenant: Tenant, actor: Actor, user: User) -> Practitioner:
    """A practitioner profile linked to ``user`` (or their archived one, restored)."""
    existing = sess.scalar(
        select(Practitioner).where(
            Practitioner.tenant_id == tenant.id, Practitioner.user_id == user.id
        )
    )
    if existing is not None:
        if not existing.is_active:
            practitioners.update_practitioner(sess, tenant, actor, existing, {"is_active": True})
        return existing
    return practitioners.create_practitioner(
        sess, tenant, actor, {"display_name": user.name, "user_id": user.id}
    )


# -- bookings covered by a closure or time off -----------------------------------------------
@dataclass
class Covered:
    """A booking a closure or time off would cover, with what the page shows of it."""

    appt: Appointment
    patient: str
    practitioner: str
    visit_type: str
    location: str
    local_start: dt.datetime
    options: list[tuple[str, str]]


def _covered_rows(sess: Session, tenant: Tenant, where) -> list[tuple]:
    A = Appointment
    return sess.execute(
        select(A, Patient.full_name, Practitioner.display_name, VisitType.name, Location)
        .join(Patient, and_(Patient.tenant_id == A.tenant_id, Patient.id == A.patient_id))
        .join(
            Practitioner,
            and_(Practitioner.tenant_id == A.tenant_id, Practitioner.id == A.practitioner_id),
        )
        .join(VisitType, and_(VisitType.tenant_id == A.tenant_id, VisitType.id == A.service_id))
        .join(Location, and_(Location.tenant_id == A.tenant_id, Location.id == A.location_id))
        .where(A.tenant_id == tenant.id, A.status.in_(COVERABLE), A.end_at > utcnow(), *where)
        .order_by(A.start_at)
    ).all()


def bookings_in_closure(
    sess: Session, tenant: Tenant, start_date: dt.date, end_date: dt.date, location_id
) -> list[tuple]:
    """Active bookings on the closed days (in each location's zone), at the closed location."""
    zone = ZoneInfo(tenant.timezone)
    # a day's widest span in any zone: from 14 h before local midnight to 12 h after the end
    lo = dt.datetime.combine(start_date, dt.time(), zone) - dt.timedelta(hours=14)
    hi = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time(), zone) + dt.timedelta(
        hours=14
    )
    where = [Appointment.start_at < hi, Appointment.end_at > lo]
    if location_id is not None:
        where.append(Appointment.location_id == location_id)
    rows = _covered_rows(sess, tenant, where)
    return [
        r
        for r in rows
        if start_date <= r[0].start_at.astimezone(ZoneInfo(r[4].timezone)).date() <= end_date
    ]


def bookings_in_time_off(
    sess: Session, tenant: Tenant, practitioner_id, start: dt.datetime, end: dt.datetime
) -> list[tuple]:
    """Active bookings of ``practitioner_id`` overlapping ``[start, end)``."""
    return _covered_rows(
        sess,
        tenant,
        [
            Appointment.practitioner_id == practitioner_id,
            Appointment.start_at < end,
            Appointment.end_at > start,
        ],
    )


def move_options(sess: Session, tenant: Tenant, appt: Appointment, blocked) -> list[tuple]:
    """Up to :data:`MOVE_OPTIONS` free times for ``appt``'s visit type outside ``blocked``.

    ``blocked(slot) -> bool`` says whether a free time falls inside the closure or time off
    being added (the slot engine does not know it yet). Values are ``start|practitioner|
    location``; labels name the time in the location's zone and the practitioner.
    """
    now = utcnow()
    found = search_slots(sess, tenant.id, appt.service_id, now, now + dt.timedelta(days=60))
    names = {o.practitioner_id: o.practitioner_name for o in found.offerings}
    places = {o.location_id: (o.location_name, o.timezone) for o in found.offerings}
    options = []
    for slot in found.slots:
        if blocked(slot):
            continue
        place, zone = places.get(slot.location_id, ("", tenant.timezone))
        local = slot.start.astimezone(ZoneInfo(zone))
        label = f"Move to {local:%a %d %b %H:%M} ({zone}) with {names.get(slot.practitioner_id)}"
        if len(places) > 1:
            label += f", {place}"
        options.append(
            (f"{slot.start.isoformat()}|{slot.practitioner_id}|{slot.location_id}", label)
        )
        if len(options) >= MOVE_OPTIONS:
            break
    return options


def covered(sess: Session, tenant: Tenant, rows: list[tuple], blocked) -> list[Covered]:
    """Rows of :func:`bookings_in_closure` / :func:`bookings_in_time_off` for the page."""
    out = []
    for appt, patient, practitioner, visit_type, loc in rows:
        out.append(
            Covered(
                appt,
                patient,
                practitioner,
                visit_type,
                loc.name,
                appt.start_at.astimezone(ZoneInfo(loc.timezone)),
                move_options(sess, tenant, appt, blocked),
            )
        )
    return out


def settle_bookings(
    sess: Session, tenant: Tenant, actor: Actor, decisions: dict[uuid.UUID, str], reason: str
) -> tuple[int, int]:
    """Apply ``decisions`` (``cancel`` or a move option value); returns (cancelled, moved).

    Patients hear of each through the booking verbs' outbox messages. A refusal names the
    booking: ``Invalid`` with errors keyed ``appt_<id>``.
    """
    cancelled = moved = 0
    for appt_id, decision in decisions.items():
        appt = get_appointment_in_tenant(sess, tenant.id, appt_id, for_update=True)
        if appt is None:
            continue
        try:
            if decision == "cancel":
                cancel_appointment(sess, tenant, actor, appt, reason=reason)
                cancelled += 1
            else:
                start, practitioner_id, location_id = decision.split("|")
                reschedule_appointment(
                    sess,
                    tenant,
                    actor,
                    appt,
                    start=dt.datetime.fromisoformat(start),
                    practitioner_id=uuid.UUID(practitioner_id),
                    location_id=uuid.UUID(location_id),
                )
                moved += 1
        except ValueError as exc:
            raise Invalid({f"appt_{appt_id}": "Choose one of the offered times."}) from exc
        except DomainError as exc:
            message = " ".join(exc.errors.values()) or exc.message
            raise Invalid({f"appt_{appt_id}": message}, reason=exc.reason) from exc
    return cancelled, moved
