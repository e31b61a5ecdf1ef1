"""Booking verbs: book, confirm, reschedule, cancel, check in, complete, no-show, expire holds.

Every verb runs in the caller's transaction and, for each state change, writes the
appointment's history row, an audit entry with the actor, and (for what patients hear
about) an outbox message. The database has the last word on conflicts: the application
checks first for a friendly reason, then the exclusion constraint decides a race, which
surfaces here as ``SchedulingError(409, reason="slot_taken")``.

Decisions:

- **Staff** booking on a patient's behalf is not held to minimum notice, maximum advance or
  the new/returning-patient restriction (front desk judgement), but is held to the
  practitioner's availability, closures and conflicts like everyone.
- **Holds:** a service with ``requires_prepayment`` books as ``held`` for the rule's hold
  time. A lapsed hold never blocks: booking first marks overlapping lapsed holds of the
  practitioner (and patient) ``expired`` in its own transaction. Paying after a lapse
  re-claims the time if it is still free.
- **Cancellation:** patients may cancel until the visit starts; inside the cutoff it is a
  late cancellation with the rule's fee recorded on the appointment. Staff cancel with a
  reason and no fee unless they ask to charge it.
- **Outbox messages** carry ids and the visit's details, never contact data: the
  notification worker resolves the patient's address at delivery time.
- **Waitlist:** whenever future time frees up (cancellation, reschedule, lapsed hold), the
  earliest matching waitlist entries get offers in the same transaction.
- **Locks, always in this order:** a claim of time first takes a per-practitioner advisory
  lock (so racing claims queue instead of deadlocking inside the exclusion check), then
  writes the domain rows; the audit entry comes last, since the audit chain's per-clinic
  lock is held to commit. A transaction waiting for a claim never holds the audit lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import and_, func, or_, select, text, true, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from saas import audit, outbox
from saas.models import Patient, Tenant, utcnow

from . import slots as engine
from .access import SYSTEM, Actor
from .errors import SchedulingError, not_found
from .models import (
    Appointment,
    AppointmentEvent,
    Location,
    Practitioner,
    VisitType,
    WaitlistEntry,
)
from .queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_service_in_tenant,
    is_returning_patient,
    load_schedule,
    offerings,
    visit_of,
)
from .rules import EffectiveRules, effective_rules

log = logging.getLogger(__name__)

#: Staff may check a patient in from this long before the visit.
CHECK_IN_EARLIEST = dt.timedelta(hours=2)

MESSAGES = {
    "in_past": "This time has already passed.",
    "too_soon": "This time is too soon to book online. Choose a later time or call the clinic.",
    "too_far_ahead": "This time is too far ahead to book yet.",
    "outside_availability": "The practitioner does not see patients at this time and place.",
    "clinic_closed": "The clinic is closed at this time.",
    "slot_taken": "This time was just taken. Please choose another.",
    "patient_busy": "The patient already has an appointment at this time.",
    "service_not_offered": "This visit type is not offered by this practitioner at this location.",
    "new_patients_only": "This visit type is for new patients. Please book a follow-up instead.",
    "returning_patients_only": (
        "This visit type is for returning patients. Please book an initial consultation first."
    ),
    "reschedule_cutoff_passed": "It is too late to reschedule online. Please call the clinic.",
    "already_started": "This appointment has already started.",
    "not_started": "This appointment has not started yet.",
    "too_early": "It is too early to check in for this appointment.",
    "invalid_state": "This appointment cannot be changed this way in its current state.",
    "unchanged": "The new time is the same as the current one.",
}

_CONSTRAINT_REASONS = {
    "ex_appointments_practitioner_overlap": "slot_taken",
    "ex_appointments_patient_overlap": "patient_busy",
}


def refuse(
    reason: str, *, status: int | None = None, message: str | None = None
) -> SchedulingError:
    """A :class:`SchedulingError` with the standard message for ``reason``."""
    if status is None:
        status = 409 if reason in ("slot_taken", "patient_busy", "invalid_state") else 422
    return SchedulingError(message or MESSAGES.get(reason, reason), status=status, reason=reason)


def _conflict(exc: IntegrityError) -> SchedulingError | None:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) != "23P01":
        return None
    name = getattr(getattr(orig, "diag", None), "constraint_name", None)
    return refuse(_CONSTRAINT_REASONS.get(name, "slot_taken"))


def _claim_lock(sess: Session, tenant_id, practitioner_id) -> None:
    """Serialise claims on one practitioner's time until commit.

    Two transactions inserting overlapping rows each wait for the other inside the
    exclusion check, and Postgres aborts one with a deadlock error. Taking this lock first
    turns such races into a clean queue: the second claimant sees the first one's
    committed row in its own check. The exclusion constraint still has the last word.
    """
    sess.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"claim:{tenant_id}:{practitioner_id}"},
    )


def _flush_claim(sess: Session) -> None:
    """Flush a claim of time; an exclusion violation (or a deadlock between claims) is a 409."""
    try:
        sess.flush()
    except IntegrityError as exc:
        if (err := _conflict(exc)) is not None:
            raise err from exc
        raise
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "40P01":  # two claims waited on each other
            raise refuse("slot_taken") from exc
        raise


# -- history, audit, outbox ----------------------------------------------------------------------


def _record(
    sess: Session,
    tenant_id,
    actor: Actor,
    appt: Appointment,
    action: str,
    from_status: str | None,
    *,
    old_start: dt.datetime | None = None,
    reason: str | None = None,
    data: dict | None = None,
) -> None:
    sess.add(
        AppointmentEvent(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            appointment_id=appt.id,
            action=action,
            from_status=from_status,
            to_status=appt.status,
            old_start_at=old_start,
            new_start_at=appt.start_at if action in ("booked", "rescheduled") else None,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            reason=reason,
            data=data or {},
        )
    )
    sess.flush()
    audit.record(
        sess,
        tenant_id,
        f"appointment.{action}",
        actor=actor,
        actor_label=actor.label,
        target=f"appointment:{appt.id}",
        data={
            "from": from_status,
            "to": appt.status,
            **({"reason": reason} if reason else {}),
            **(data or {}),
        },
    )


def describe(
    sess: Session, appt: Appointment, *, service=None, practitioner=None, location=None
) -> dict:
    """The visit's details for messages and calendars (no contact data)."""
    tid = appt.tenant_id
    service = service or get_service_in_tenant(sess, tid, appt.service_id)
    practitioner = practitioner or get_practitioner_in_tenant(sess, tid, appt.practitioner_id)
    location = location or get_location_in_tenant(sess, tid, appt.location_id)
    zone = engine.ZoneInfo(location.timezone)
    return {
        "appointment_id": str(appt.id),
        "patient_id": str(appt.patient_id),
        "status": appt.status,
        "service": service.name,
        "practitioner": practitioner.display_name,
        "location": location.name,
        "location_kind": location.kind,
        "address": location.address,
        "timezone": location.timezone,
        "start": appt.start_at.astimezone(zone).isoformat(),
        "end": appt.end_at.astimezone(zone).isoformat(),
    }


def _emit(sess: Session, appt: Appointment, topic: str, **extra) -> None:
    outbox.emit(sess, appt.tenant_id, topic, {**describe(sess, appt), **extra})


# -- holds -----------------------------------------------------------------------------------------


def _expire(sess: Session, tenant: Tenant, condition, now: dt.datetime) -> list[Appointment]:
    """Mark lapsed holds matching ``condition`` expired; history, audit, outbox, waitlist."""
    ids = list(
        sess.scalars(
            update(Appointment)
            .where(
                Appointment.tenant_id == tenant.id,
                Appointment.status == "held",
                Appointment.hold_expires_at <= now,
                condition,
            )
            .values(status="expired", updated_at=now)
            .returning(Appointment.id)
        )
    )
    if not ids:
        return []
    expired = list(
        sess.scalars(
            select(Appointment)
            .where(Appointment.tenant_id == tenant.id, Appointment.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    )
    for appt in expired:
        _emit(sess, appt, "appointment.hold_expired")
        _record(sess, tenant.id, SYSTEM, appt, "hold_expired", "held")
    return expired


def _expire_overlapping(
    sess, tenant, practitioner_id, patient_id, occupied, start, end, now
) -> None:
    """Expire lapsed holds that would block this claim (practitioner's time or patient's)."""
    _expire(
        sess,
        tenant,
        or_(
            and_(
                Appointment.practitioner_id == practitioner_id,
                Appointment.occupied.op("&&")(occupied),
            ),
            and_(
                Appointment.patient_id == patient_id,
                func.tstzrange(Appointment.start_at, Appointment.end_at).op("&&")(
                    func.tstzrange(start, end)
                ),
            ),
        ),
        now,
    )


def expire_holds(sess: Session, tenant: Tenant, *, now: dt.datetime | None = None) -> int:
    """Sweep: expire every lapsed hold of a clinic and offer the freed time (worker)."""
    now = now or utcnow()
    expired = _expire(sess, tenant, true(), now)
    from .waitlist import offer_freed_time

    for appt in expired:
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
    return len(expired)


# -- booking ---------------------------------------------------------------------------------------


def _resolve(sess: Session, tenant: Tenant, service_id, practitioner_id, location_id):
    service = get_service_in_tenant(sess, tenant.id, service_id)
    if service is None:
        raise not_found("service", "service_id")
    practitioner = get_practitioner_in_tenant(sess, tenant.id, practitioner_id)
    if practitioner is None:
        raise not_found("practitioner", "practitioner_id")
    location = get_location_in_tenant(sess, tenant.id, location_id)
    if location is None:
        raise not_found("location", "location_id")
    if not (service.is_active and practitioner.is_active and location.is_active) or not offerings(
        sess, tenant.id, service.id, practitioner_id=practitioner.id, location_id=location.id
    ):
        raise refuse("service_not_offered")
    return service, practitioner, location


def _check_time(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    service: VisitType,
    practitioner: Practitioner,
    location: Location,
    rules: EffectiveRules,
    start: dt.datetime,
    now: dt.datetime,
    *,
    exclude_id=None,
) -> None:
    schedule = load_schedule(
        sess,
        tenant.id,
        [practitioner.id],
        {location.id: location.timezone},
        start - dt.timedelta(hours=1),
        start + dt.timedelta(hours=1),
        now,
        exclude_appointment_id=exclude_id,
    )
    reason = engine.check_slot(
        schedule,
        visit_of(service),
        rules.policy(),
        practitioner.id,
        location.id,
        start,
        now,
        enforce_notice=not actor.is_staff,
    )
    if reason is not None:
        raise refuse(reason)


def _occupied(start: dt.datetime, end: dt.datetime, service: VisitType) -> Range:
    return Range(
        start - dt.timedelta(minutes=service.buffer_before_minutes),
        end + dt.timedelta(minutes=service.buffer_after_minutes),
        bounds="[)",
    )


def book_appointment(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    *,
    patient: Patient,
    service_id,
    practitioner_id,
    location_id,
    start: dt.datetime,
    now: dt.datetime | None = None,
) -> Appointment:
    """Book ``patient`` into a free start; ``held`` when the service needs prepayment."""
    now = now or utcnow()
    if start.tzinfo is None:
        raise SchedulingError(
            "Give the start with its UTC offset.", errors={"start": "Include the UTC offset."}
        )
    start = start.astimezone(dt.UTC)
    service, practitioner, location = _resolve(
        sess, tenant, service_id, practitioner_id, location_id
    )
    if patient.status != "active":
        raise not_found("patient", "patient_id")
    if not actor.is_staff and (service.new_patients_only or service.returning_patients_only):
        returning = is_returning_patient(sess, tenant.id, patient.id, now=now)
        if service.new_patients_only and returning:
            raise refuse("new_patients_only")
        if service.returning_patients_only and not returning:
            raise refuse("returning_patients_only")
    rules = effective_rules(sess, tenant.id, service.id)
    end = start + dt.timedelta(minutes=service.duration_minutes)
    occupied = _occupied(start, end, service)
    _claim_lock(sess, tenant.id, practitioner.id)
    _expire_overlapping(
        sess,
        tenant,
        practitioner.id,
        patient.id,
        func.tstzrange(occupied.lower, occupied.upper),
        start,
        end,
        now,
    )
    _check_time(sess, tenant, actor, service, practitioner, location, rules, start, now)
    held = service.requires_prepayment
    appt = Appointment(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        practitioner_id=practitioner.id,
        location_id=location.id,
        service_id=service.id,
        status="held" if held else "confirmed",
        start_at=start,
        end_at=end,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
        occupied=occupied,
        hold_expires_at=now + dt.timedelta(minutes=rules.hold_minutes) if held else None,
        price_minor=service.price_minor,
        currency=service.currency,
        booked_by="staff" if actor.kind == "staff" else "patient",
        booked_by_user_id=actor.id if actor.kind == "staff" else None,
        reschedule_count=0,
        fee_minor=0,
        late_cancellation=False,
        updated_at=now,
    )
    sess.add(appt)
    _flush_claim(sess)
    _fulfil_waitlist(sess, tenant, appt, location.timezone)
    extra = {"hold_expires_at": appt.hold_expires_at.isoformat()} if held else {}
    outbox.emit(
        sess,
        tenant.id,
        "appointment.held" if held else "appointment.confirmed",
        {
            **describe(sess, appt, service=service, practitioner=practitioner, location=location),
            "price_minor": appt.price_minor,
            "currency": appt.currency,
            **extra,
        },
    )
    _record(
        sess,
        tenant.id,
        actor,
        appt,
        "booked",
        None,
        data={"service_id": str(service.id), "practitioner_id": str(practitioner.id)},
    )
    return appt


def _fulfil_waitlist(sess: Session, tenant: Tenant, appt: Appointment, zone_name: str) -> None:
    """A booking for a service ends the patient's matching waitlist entries."""
    day = appt.start_at.astimezone(engine.ZoneInfo(zone_name)).date()
    sess.execute(
        update(WaitlistEntry)
        .where(
            WaitlistEntry.tenant_id == tenant.id,
            WaitlistEntry.patient_id == appt.patient_id,
            WaitlistEntry.service_id == appt.service_id,
            WaitlistEntry.status == "waiting",
            or_(
                WaitlistEntry.practitioner_id.is_(None),
                WaitlistEntry.practitioner_id == appt.practitioner_id,
            ),
            or_(WaitlistEntry.location_id.is_(None), WaitlistEntry.location_id == appt.location_id),
            or_(WaitlistEntry.earliest_date.is_(None), WaitlistEntry.earliest_date <= day),
            or_(WaitlistEntry.latest_date.is_(None), WaitlistEntry.latest_date >= day),
        )
        .values(status="booked")
    )


# -- lifecycle -------------------------------------------------------------------------------------


def _require_state(appt: Appointment, allowed: tuple[str, ...], now: dt.datetime) -> str:
    status = appt.effective_status(now)
    if status not in allowed:
        raise SchedulingError(
            f"This appointment is {status.replace('_', ' ')}; it cannot be changed this way.",
            status=409,
            reason="invalid_state",
        )
    return status


def confirm_appointment(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    payment_ref: str | None = None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Payment received: a hold becomes confirmed (a lapsed one re-claims its time if free)."""
    now = now or utcnow()
    if appt.status not in ("held", "expired"):
        raise refuse("invalid_state")
    before = appt.status
    if appt.effective_status(now) == "expired":
        _claim_lock(sess, tenant.id, appt.practitioner_id)
        _expire_overlapping(
            sess,
            tenant,
            appt.practitioner_id,
            appt.patient_id,
            func.tstzrange(appt.occupied.lower, appt.occupied.upper),
            appt.start_at,
            appt.end_at,
            now,
        )
        sess.refresh(appt)
        before = appt.status
    appt.status, appt.hold_expires_at = "confirmed", None
    appt.paid_at, appt.payment_ref, appt.updated_at = now, payment_ref, now
    _flush_claim(sess)
    _emit(sess, appt, "appointment.confirmed", price_minor=appt.price_minor, currency=appt.currency)
    _record(
        sess,
        tenant.id,
        actor,
        appt,
        "confirmed",
        before,
        data={"payment_ref": payment_ref} if payment_ref else None,
    )
    return appt


def reschedule_appointment(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    start: dt.datetime,
    practitioner_id=None,
    location_id=None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Move an appointment: the new time is claimed and the old released in one UPDATE."""
    now = now or utcnow()
    if start.tzinfo is None:
        raise SchedulingError(
            "Give the start with its UTC offset.", errors={"start": "Include the UTC offset."}
        )
    start = start.astimezone(dt.UTC)
    status = _require_state(appt, ("held", "confirmed"), now)
    rules = effective_rules(sess, tenant.id, appt.service_id)
    if not actor.is_staff and appt.start_at - now < dt.timedelta(
        minutes=rules.reschedule_cutoff_minutes
    ):
        raise refuse("reschedule_cutoff_passed")
    service, practitioner, location = _resolve(
        sess,
        tenant,
        appt.service_id,
        practitioner_id or appt.practitioner_id,
        location_id or appt.location_id,
    )
    if (start, practitioner.id, location.id) == (
        appt.start_at,
        appt.practitioner_id,
        appt.location_id,
    ):
        raise refuse("unchanged")
    end = start + dt.timedelta(minutes=service.duration_minutes)
    occupied = _occupied(start, end, service)
    _claim_lock(sess, tenant.id, practitioner.id)
    _expire_overlapping(
        sess,
        tenant,
        practitioner.id,
        appt.patient_id,
        func.tstzrange(occupied.lower, occupied.upper),
        start,
        end,
        now,
    )
    _check_time(
        sess, tenant, actor, service, practitioner, location, rules, start, now, exclude_id=appt.id
    )
    old = (appt.start_at, appt.end_at, appt.practitioner_id, appt.location_id)
    appt.start_at, appt.end_at, appt.occupied = start, end, occupied
    appt.practitioner_id, appt.location_id = practitioner.id, location.id
    appt.buffer_before_minutes, appt.buffer_after_minutes = (
        service.buffer_before_minutes,
        service.buffer_after_minutes,
    )
    appt.reschedule_count += 1
    appt.updated_at = now
    _flush_claim(sess)
    data = {}
    if old[2] != practitioner.id:
        data["old_practitioner_id"] = str(old[2])
    if old[3] != location.id:
        data["old_location_id"] = str(old[3])
    zone = engine.ZoneInfo(location.timezone)
    _emit(sess, appt, "appointment.rescheduled", old_start=old[0].astimezone(zone).isoformat())
    _record(sess, tenant.id, actor, appt, "rescheduled", status, old_start=old[0], data=data)
    from .waitlist import offer_freed_time

    offer_freed_time(
        sess, tenant, old[2], old[3], old[0], old[1], now=now, exclude_patient_id=appt.patient_id
    )
    return appt


def cancel_appointment(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    reason: str | None = None,
    charge_fee: bool = False,
    now: dt.datetime | None = None,
) -> Appointment:
    """Cancel: by the patient (late inside the cutoff, with the fee) or by staff with a reason."""
    now = now or utcnow()
    status = _require_state(appt, ("held", "confirmed"), now)
    reason = (reason or "").strip() or None
    if actor.kind == "staff" and reason is None:
        raise SchedulingError(
            "Give a reason for the cancellation.", errors={"reason": "Enter a reason."}
        )
    if actor.kind == "patient" and appt.start_at <= now:
        raise refuse("already_started")
    rules = effective_rules(sess, tenant.id, appt.service_id)
    late = status == "confirmed" and appt.start_at - now < dt.timedelta(
        minutes=rules.cancellation_cutoff_minutes
    )
    fee = (
        rules.late_cancellation_fee_minor if late and (actor.kind == "patient" or charge_fee) else 0
    )
    appt.status = "cancelled"
    appt.cancelled_at, appt.cancelled_by, appt.cancel_reason = now, actor.kind, reason
    appt.late_cancellation = late and actor.kind == "patient"
    appt.fee_minor, appt.updated_at = fee, now
    sess.flush()
    _emit(
        sess,
        appt,
        "appointment.cancelled",
        cancelled_by=actor.kind,
        reason=reason,
        late_cancellation=appt.late_cancellation,
        fee_minor=fee,
        currency=appt.currency,
    )
    _record(
        sess,
        tenant.id,
        actor,
        appt,
        "cancelled",
        status,
        reason=reason,
        data={"late": appt.late_cancellation, "fee_minor": fee},
    )
    from .waitlist import offer_freed_time

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
    return appt


def check_in(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    now: dt.datetime | None = None,
) -> Appointment:
    """The patient has arrived (staff)."""
    now = now or utcnow()
    _require_state(appt, ("confirmed",), now)
    if now < appt.start_at - CHECK_IN_EARLIEST:
        raise refuse("too_early")
    appt.status, appt.checked_in_at, appt.updated_at = "checked_in", now, now
    sess.flush()
    _record(sess, tenant.id, actor, appt, "checked_in", "confirmed")
    return appt


def complete(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    now: dt.datetime | None = None,
) -> Appointment:
    """The visit took place (online visits may skip check-in)."""
    now = now or utcnow()
    status = _require_state(appt, ("confirmed", "checked_in"), now)
    if now < appt.start_at:
        raise refuse("not_started")
    appt.status, appt.completed_at, appt.updated_at = "completed", now, now
    sess.flush()
    rules = effective_rules(sess, tenant.id, appt.service_id)
    location = get_location_in_tenant(sess, tenant.id, appt.location_id)
    window = rules.follow_up_window(appt.start_at.astimezone(engine.ZoneInfo(location.timezone)))
    _emit(
        sess,
        appt,
        "appointment.completed",
        follow_up={"from": window[0].isoformat(), "to": window[1].isoformat()} if window else None,
    )
    _record(sess, tenant.id, actor, appt, "completed", status)
    return appt


def mark_no_show(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    now: dt.datetime | None = None,
) -> Appointment:
    """The patient did not come: the no-show fee (the late-cancellation fee) is recorded."""
    now = now or utcnow()
    _require_state(appt, ("confirmed",), now)
    if now < appt.start_at:
        raise refuse("not_started")
    rules = effective_rules(sess, tenant.id, appt.service_id)
    appt.status, appt.fee_minor, appt.updated_at = "no_show", rules.late_cancellation_fee_minor, now
    sess.flush()
    _emit(sess, appt, "appointment.no_show", fee_minor=appt.fee_minor, currency=appt.currency)
    _record(
        sess, tenant.id, actor, appt, "no_show", "confirmed", data={"fee_minor": appt.fee_minor}
    )
    return appt
