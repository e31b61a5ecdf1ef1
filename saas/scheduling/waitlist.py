"""The waitlist: patients waiting for a sooner slot get offers when time frees up.

Decisions: offers go to the earliest entries first (first come, first served), at most
:data:`OFFERS_PER_FREED_TIME` per freed time, each an outbox message plus a recorded
:class:`WaitlistOffer`. An offer does not reserve the slot: the first patient to book it
gets it (the others see ``slot_taken`` and stay on the waitlist). Booking the visit type
within an entry's range ends the entry. Offers are made in the transaction that freed the
time, so an offer exists only if the cancellation really committed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas import audit, outbox
from saas.actors import SYSTEM, Actor
from saas.exceptions import Conflict, Invalid, not_found
from saas.models import Patient, Tenant, utcnow

from . import slots as engine
from .messages import refuse
from .models import (
    Location,
    Practitioner,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
    WaitlistEntry,
    WaitlistOffer,
)
from .queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_visit_type_in_tenant,
    load_schedule,
    offerings,
    visit_of,
)
from .rules import effective_rules

OFFERS_PER_FREED_TIME = 3
#: How many waiting entries one freed time looks at (the earliest).
CANDIDATES = 50


def join_waitlist(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    patient: Patient,
    *,
    service_id,
    practitioner_id=None,
    location_id=None,
    earliest_date: dt.date | None = None,
    latest_date: dt.date | None = None,
    today: dt.date | None = None,
) -> WaitlistEntry:
    """Put a patient on the waitlist for a visit type (optionally a practitioner, place, dates)."""
    visit_type = get_visit_type_in_tenant(sess, tenant.id, service_id)
    if visit_type is None or not visit_type.is_active:
        raise not_found("visit type", "service_id")
    if (
        practitioner_id is not None
        and get_practitioner_in_tenant(sess, tenant.id, practitioner_id) is None
    ):
        raise not_found("practitioner", "practitioner_id")
    if location_id is not None and get_location_in_tenant(sess, tenant.id, location_id) is None:
        raise not_found("location", "location_id")
    if not offerings(
        sess, tenant.id, visit_type.id, practitioner_id=practitioner_id, location_id=location_id
    ):
        raise refuse("service_not_offered")
    today = today or utcnow().astimezone(engine.ZoneInfo(tenant.timezone)).date()
    errors = {}
    if latest_date is not None and latest_date < today:
        errors["latest_date"] = "This date has passed."
    if earliest_date and latest_date and latest_date < earliest_date:
        errors["latest_date"] = "The last day cannot be before the first day."
    if errors:
        raise Invalid(errors, reason="invalid")
    entry = WaitlistEntry(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        service_id=visit_type.id,
        practitioner_id=practitioner_id,
        location_id=location_id,
        earliest_date=earliest_date,
        latest_date=latest_date,
        status="waiting",
    )
    sess.add(entry)
    try:
        with sess.begin_nested():
            sess.flush()
    except IntegrityError as exc:
        raise Conflict("You are already on the waitlist for this.", reason="duplicate") from exc
    audit.record(
        sess,
        tenant.id,
        "waitlist.joined",
        actor=actor,
        actor_label=actor.label,
        target=f"waitlist:{entry.id}",
        data={"service_id": str(visit_type.id)},
    )
    return entry


def leave_waitlist(sess: Session, tenant: Tenant, actor: Actor, entry: WaitlistEntry) -> None:
    """Take an entry off the waitlist."""
    if entry.status != "waiting":
        raise Conflict("This waitlist entry is no longer active.", reason="invalid_state")
    entry.status = "cancelled"
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "waitlist.left",
        actor=actor,
        actor_label=actor.label,
        target=f"waitlist:{entry.id}",
    )


def get_waitlist_entry_in_tenant(sess: Session, tenant_id, entry_id) -> WaitlistEntry | None:
    """The clinic's waitlist entry with this id."""
    return sess.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.tenant_id == tenant_id, WaitlistEntry.id == entry_id
        )
    )


def offer_freed_time(
    sess: Session,
    tenant: Tenant,
    practitioner_id: uuid.UUID,
    location_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime | None = None,
    exclude_patient_id: uuid.UUID | None = None,
) -> list[WaitlistOffer]:
    """Offer time freed at ``[start, end)`` to the earliest matching waitlist entries."""
    now = now or utcnow()
    if end <= now:
        return []
    location = get_location_in_tenant(sess, tenant.id, location_id)
    practitioner = get_practitioner_in_tenant(sess, tenant.id, practitioner_id)
    if (
        location is None
        or practitioner is None
        or not (location.is_active and practitioner.is_active)
    ):
        return []
    zone = engine.ZoneInfo(location.timezone)
    day = start.astimezone(zone).date()
    e, sp, sl = WaitlistEntry, VisitTypePractitioner, VisitTypeLocation
    q = (
        select(e, VisitType)
        .join(VisitType, and_(VisitType.tenant_id == e.tenant_id, VisitType.id == e.service_id))
        .join(
            sp,
            and_(
                sp.tenant_id == e.tenant_id,
                sp.service_id == e.service_id,
                sp.practitioner_id == practitioner_id,
            ),
        )
        .join(
            sl,
            and_(
                sl.tenant_id == e.tenant_id,
                sl.service_id == e.service_id,
                sl.location_id == location_id,
            ),
        )
        .where(
            e.tenant_id == tenant.id,
            e.status == "waiting",
            VisitType.is_active.is_(True),
            or_(e.practitioner_id.is_(None), e.practitioner_id == practitioner_id),
            or_(e.location_id.is_(None), e.location_id == location_id),
            or_(e.earliest_date.is_(None), e.earliest_date <= day),
            or_(e.latest_date.is_(None), e.latest_date >= day),
        )
        .order_by(e.created_at, e.id)
        .limit(CANDIDATES)
    )
    if exclude_patient_id is not None:
        q = q.where(e.patient_id != exclude_patient_id)
    candidates = sess.execute(q).all()
    if not candidates:
        return []
    schedule = load_schedule(
        sess,
        tenant.id,
        [practitioner_id],
        {location_id: location.timezone},
        start - dt.timedelta(hours=13),
        end,
        now,
    )
    first_start: dict[uuid.UUID, dt.datetime | None] = {}
    offers = []
    for entry, visit_type in candidates:
        if visit_type.id not in first_start:
            first_start[visit_type.id] = _first_start(
                schedule, sess, tenant, visit_type, practitioner, location, start, end, now
            )
        slot_start = first_start[visit_type.id]
        if slot_start is None:
            continue
        offers.append(
            _offer(sess, tenant, entry, visit_type, practitioner, location, slot_start, now)
        )
        if len(offers) >= OFFERS_PER_FREED_TIME:
            break
    return offers


def offer_appointment_time(sess: Session, tenant: Tenant, appt, *, now: dt.datetime) -> None:
    """Offer the time an appointment gave up (cancelled, lapsed) to the others waiting."""
    offer_freed_time(
        sess,
        tenant,
        appt.practitioner_id,
        appt.location_id,
        appt.start_at,
        appt.end_at,
        now=now,
        exclude_patient_id=appt.patient_id,
    )


def _first_start(
    schedule,
    sess,
    tenant,
    visit_type: VisitType,
    practitioner: Practitioner,
    location: Location,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> dt.datetime | None:
    """The freed start, or else the earliest free start of ``visit_type`` overlapping it."""
    visit = visit_of(visit_type)
    found = engine.free_slots(
        schedule,
        visit,
        effective_rules(sess, tenant.id, visit_type.id).policy(),
        [(practitioner.id, location.id)],
        start - visit.duration + dt.timedelta(seconds=1),
        end,
        now,
    )
    for slot in found:  # the freed start itself when this visit type can start there
        if slot.start == start:
            return slot.start
    return found[0].start if found else None


def _offer(
    sess, tenant, entry: WaitlistEntry, visit_type, practitioner, location, slot_start, now
) -> WaitlistOffer:
    offer = WaitlistOffer(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        entry_id=entry.id,
        practitioner_id=practitioner.id,
        location_id=location.id,
        start_at=slot_start,
    )
    sess.add(offer)
    entry.last_offered_at = now
    sess.flush()
    zone = engine.ZoneInfo(location.timezone)
    outbox.emit(
        sess,
        tenant.id,
        "waitlist.offer",
        {
            "waitlist_entry_id": str(entry.id),
            "offer_id": str(offer.id),
            "patient_id": str(entry.patient_id),
            "service_id": str(visit_type.id),
            "service": visit_type.name,
            "practitioner_id": str(practitioner.id),
            "practitioner": practitioner.display_name,
            "location_id": str(location.id),
            "location": location.name,
            "timezone": location.timezone,
            "start": slot_start.astimezone(zone).isoformat(),
        },
    )
    audit.record(
        sess,
        tenant.id,
        "waitlist.offered",
        actor=SYSTEM,
        actor_label=SYSTEM.label,
        target=f"waitlist:{entry.id}",
        data={"offer_id": str(offer.id), "start": slot_start.isoformat()},
    )
    return offer
