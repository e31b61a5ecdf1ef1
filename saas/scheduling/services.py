"""Booking verbs: book, confirm, reschedule, cancel, check in, complete, mark a no-show.

Every verb runs in the caller's transaction: it asks :mod:`.states` whether the actor may
(who, state, time), changes the appointment, and for each change writes the history row
and audit entry (:mod:`.history`) and, for what patients hear about, an outbox message
(:mod:`.messages`). Nothing here commits. The database has the last word on conflicts:
the application checks first for a friendly reason, then the exclusion constraint decides
a race, which surfaces here as a :class:`~saas.exceptions.Conflict` with reason
``slot_taken``.

Decisions:

- **Staff** booking on a patient's behalf is not held to minimum notice, maximum advance or
  the new/returning-patient restriction (front desk judgement), but is held to the
  practitioner's availability, closures and conflicts like everyone.
- **Holds:** a visit type with ``requires_prepayment`` books as ``held`` for the rule's hold
  time (:mod:`.holds`). Paying after a lapse re-claims the time if it is still free.
- **Cancellation:** patients may cancel until the visit starts; inside the cutoff it is a
  late cancellation with the rule's fee recorded on the appointment. Staff cancel with a
  reason and no fee unless they ask to charge it.
- **Waitlist:** whenever future time frees up (cancellation, reschedule, lapsed hold), the
  earliest matching waitlist entries get offers in the same transaction.
- **Locks, always in this order:** a claim of time first takes a per-practitioner advisory
  lock (so racing claims queue instead of deadlocking inside the exclusion check), then
  writes the domain rows; the audit entry comes last, since the audit chain's per-clinic
  lock is held to commit. A transaction waiting for a claim never holds the audit lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import Date, DateTime, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import UUID, Range
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from saas import db, settings
from saas.actors import Actor
from saas.exceptions import Invalid, not_found
from saas.fields import seal_field
from saas.models import OutboxMessage, Patient, Tenant, utcnow

from . import catalogue
from . import slots as engine
from .history import audit_transition, record_transition, transition_event
from .holds import announce_expired, blocking_holds, expire_blocking_holds
from .messages import alert, notification, notify, refuse
from .models import (
    Appointment,
    AppointmentEvent,
    Location,
    Practitioner,
    VisitType,
    WaitlistEntry,
)
from .queries import (
    MARGIN,
    busy_intervals,
    busy_query,
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_visit_type_in_tenant,
    load_schedule,
    offerings,
    returning_patient_clause,
    visit_of,
)
from .rules import EffectiveRules, effective_rules
from .settings import BOOKING
from .states import authorize
from .waitlist import offer_appointment_time, offer_freed_time

log = logging.getLogger(__name__)

_CONSTRAINT_REASONS = {
    "ex_appointments_practitioner_overlap": "slot_taken",
    "ex_appointments_patient_overlap": "patient_busy",
}


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
    with _claim_errors():
        sess.flush()


@contextlib.contextmanager
def _claim_errors():
    """An exclusion violation (or a deadlock between claims) inside is a 409."""
    try:
        yield
    except IntegrityError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) != "23P01":  # not an exclusion violation
            raise
        name = getattr(getattr(orig, "diag", None), "constraint_name", None)
        raise refuse(_CONSTRAINT_REASONS.get(name, "slot_taken")) from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "40P01":  # two claims waited on each other
            raise refuse("slot_taken") from exc
        raise


def _aware(start: dt.datetime) -> dt.datetime:
    """``start`` in UTC; a start without its UTC offset is ambiguous and refused."""
    if start.tzinfo is None:
        raise Invalid(
            "Give the start with its UTC offset.", errors={"start": "Include the UTC offset."}
        )
    return start.astimezone(dt.UTC)


# -- booking ---------------------------------------------------------------------------------------


def _resolve(sess: Session, tenant: Tenant, visit_type_id, practitioner_id, location_id):
    """The visit type, practitioner and location of a claim (from the catalogue when current)."""
    cat = catalogue.current(sess, tenant.id)
    if cat is not None:
        visit_type = cat.visit_types.get(visit_type_id)
        practitioner = cat.practitioners.get(practitioner_id)
        location = cat.locations.get(location_id)
    else:
        visit_type = get_visit_type_in_tenant(sess, tenant.id, visit_type_id)
        practitioner = get_practitioner_in_tenant(sess, tenant.id, practitioner_id)
        location = get_location_in_tenant(sess, tenant.id, location_id)
    if visit_type is None:
        raise not_found("visit type", "service_id")
    if practitioner is None:
        raise not_found("practitioner", "practitioner_id")
    if location is None:
        raise not_found("location", "location_id")
    ids = {"practitioner_id": practitioner.id, "location_id": location.id}
    offered = (
        cat.offerings(visit_type.id, **ids)
        if cat is not None
        else offerings(sess, tenant.id, visit_type.id, **ids)
    )
    if not (visit_type.is_active and practitioner.is_active and location.is_active) or not offered:
        raise refuse("service_not_offered")
    return visit_type, practitioner, location


def _rules(sess: Session, tenant_id, visit_type_id) -> EffectiveRules:
    cat = catalogue.current(sess, tenant_id)
    return (
        cat.rules_for(visit_type_id)
        if cat is not None
        else effective_rules(sess, tenant_id, visit_type_id)
    )


def _check_time(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    visit_type: VisitType,
    practitioner: Practitioner,
    location: Location,
    rules: EffectiveRules,
    start: dt.datetime,
    now: dt.datetime,
    *,
    exclude_id=None,
    busy: dict | None = None,
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
        busy=busy,
    )
    reason = engine.check_slot(
        schedule,
        visit_of(visit_type),
        rules.policy(),
        practitioner.id,
        location.id,
        start,
        now,
        enforce_notice=not actor.is_staff,
    )
    if reason is not None:
        raise refuse(reason)


def _occupied(start: dt.datetime, end: dt.datetime, visit_type: VisitType) -> Range:
    return Range(
        start - dt.timedelta(minutes=visit_type.buffer_before_minutes),
        end + dt.timedelta(minutes=visit_type.buffer_after_minutes),
        bounds="[)",
    )


def _check_patient_limits(
    sess: Session, tenant: Tenant, patient: Patient, now: dt.datetime, *, holding: bool
) -> None:
    """A patient may hold only so much of the calendar (``booking`` settings section).

    Takes a per-patient advisory lock first, so two parallel bookings by one patient cannot
    both pass the count.
    """
    limits = settings.read(tenant, BOOKING.name)
    sess.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"patient-bookings:{tenant.id}:{patient.id}"},
    )
    active = (Appointment.status == "confirmed") | (
        (Appointment.status == "held") & (Appointment.hold_expires_at > now)
    )
    rows = sess.execute(
        select(Appointment.status, func.count())
        .where(
            Appointment.tenant_id == tenant.id,
            Appointment.patient_id == patient.id,
            Appointment.start_at > now,
            active,
        )
        .group_by(Appointment.status)
    ).all()
    counts = dict(rows)
    if sum(counts.values()) >= limits["max_upcoming_per_patient"]:
        raise refuse("booking_limit")
    if holding and counts.get("held", 0) >= limits["max_open_holds_per_patient"]:
        raise refuse("hold_limit")


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
    """Book ``patient`` into a free start of visit type ``service_id``.

    ``held`` when the visit type needs prepayment, else ``confirmed``. The hot path of the
    portal, so its round trips are counted (five beyond binding the clinic and the caller,
    a test holds it): the locks; one statement that expires lapsed holds in the way and reads
    the patient's count, the busy time and whether the patient is returning; one INSERT of
    the appointment with its history row and outbox message and the end of matching waitlist
    entries; the audit chain's lock and last link; the audit entry.
    """
    now = now or utcnow()
    start = _aware(start)
    visit_type, practitioner, location = _resolve(
        sess, tenant, service_id, practitioner_id, location_id
    )
    if patient.status != "active":
        raise not_found("patient", "patient_id")
    rules = _rules(sess, tenant.id, visit_type.id)
    end = start + dt.timedelta(minutes=visit_type.duration_minutes)
    occupied = _occupied(start, end, visit_type)
    by_patient = actor.kind == "patient"
    restricted = not actor.is_staff and (
        visit_type.new_patients_only or visit_type.returning_patients_only
    )
    keys = [f"claim:{tenant.id}:{practitioner.id}"]
    if by_patient:  # a per-patient lock first, so parallel bookings by one patient queue
        keys.insert(0, f"patient-bookings:{tenant.id}:{patient.id}")
    sess.execute(
        text(
            "SELECT "
            + ", ".join(
                f"pg_advisory_xact_lock(hashtextextended(:k{n}, 0))" for n in range(len(keys))
            )
        ),
        {f"k{n}": k for n, k in enumerate(keys)},
    )
    seen = _claim_context(
        sess,
        tenant,
        practitioner.id,
        patient.id,
        occupied,
        start,
        end,
        now,
        count_patient=by_patient,
        returning=restricted,
    )
    if seen.expired:
        announce_expired(sess, tenant, seen.expired, now)
    if restricted:
        if visit_type.new_patients_only and seen.returning:
            raise refuse("new_patients_only")
        if visit_type.returning_patients_only and not seen.returning:
            raise refuse("returning_patients_only")
    if by_patient:
        limits = settings.read(tenant, BOOKING.name)
        if seen.confirmed + seen.held >= limits["max_upcoming_per_patient"]:
            raise refuse("booking_limit")
        if visit_type.requires_prepayment and seen.held >= limits["max_open_holds_per_patient"]:
            raise refuse("hold_limit")
    _check_time(
        sess,
        tenant,
        actor,
        visit_type,
        practitioner,
        location,
        rules,
        start,
        now,
        busy={practitioner.id: seen.busy},
    )
    held = visit_type.requires_prepayment
    appt = Appointment(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        practitioner_id=practitioner.id,
        location_id=location.id,
        service_id=visit_type.id,
        status="held" if held else "confirmed",
        start_at=start,
        end_at=end,
        buffer_before_minutes=visit_type.buffer_before_minutes,
        buffer_after_minutes=visit_type.buffer_after_minutes,
        occupied=occupied,
        hold_expires_at=now + dt.timedelta(minutes=rules.hold_minutes) if held else None,
        price_minor=visit_type.price_minor,
        currency=visit_type.currency,
        booked_by="staff" if actor.kind == "staff" else "patient",
        booked_by_user_id=actor.id if actor.kind == "staff" else None,
        reschedule_count=0,
        fee_minor=0,
        late_cancellation=False,
        updated_at=now,
        created_at=now,
    )
    data = {"service_id": str(visit_type.id), "practitioner_id": str(practitioner.id)}
    event = transition_event(tenant.id, actor, appt, "booked", None, data=data)
    message = notification(
        sess,
        appt,
        "appointment.held" if held else "appointment.confirmed",
        known={"visit_type": visit_type, "practitioner": practitioner, "location": location},
        price_minor=appt.price_minor,
        currency=appt.currency,
        **({"hold_expires_at": appt.hold_expires_at.isoformat()} if held else {}),
    )
    alerted = None if held else alert(sess, appt, "appointment.confirmed", message.payload)
    _insert_booking(sess, appt, event, message, location.timezone, alerted)
    db.adopt(sess, appt)
    audit_transition(sess, tenant.id, actor, appt, "booked", None, data=data)
    return appt


@dataclass(frozen=True)
class _ClaimContext:
    expired: list  #: ids of lapsed holds in the way, expired by this statement
    busy: list  #: the practitioner's busy (start, end) pairs around the claim
    confirmed: int = 0  #: the patient's upcoming confirmed visits
    held: int = 0  #: the patient's live holds
    returning: bool = False


def _p(name: str, type_=None):
    return bindparam(name, type_=type_)


_TS = DateTime(timezone=True)
_ID = UUID(as_uuid=True)


@functools.cache
def _claim_context_statement(count_patient: bool, returning: bool):
    """The claim-context SELECT, built once per shape; every value is a parameter.

    Building and keying a statement of this size costs more than running it.
    """
    a = Appointment
    tid, pid, patient, now = _p("tid", _ID), _p("pid", _ID), _p("patient", _ID), _p("now", _TS)
    occupied = SimpleNamespace(lower=_p("occ_lo", _TS), upper=_p("occ_hi", _TS))
    expired = (
        update(a)
        .where(a.tenant_id == tid, a.status == "held", a.hold_expires_at <= now)
        .where(blocking_holds(pid, patient, occupied, _p("start", _TS), _p("end", _TS)))
        .values(status="expired", updated_at=now)
        .returning(a.id)
        .cte("expired")
    )
    busy = busy_query(tid, [pid], _p("lo", _TS), _p("hi", _TS), now).subquery("busy")
    columns = [
        select(func.array_agg(expired.c.id)).scalar_subquery(),
        select(busy.c.starts).scalar_subquery(),
        select(busy.c.ends).scalar_subquery(),
    ]
    mine = (a.tenant_id == tid, a.patient_id == patient)
    if count_patient:
        columns += [
            select(func.count())
            .where(*mine, a.start_at > now, a.status == "confirmed")
            .scalar_subquery(),
            select(func.count())
            .where(*mine, a.start_at > now, a.status == "held", a.hold_expires_at > now)
            .scalar_subquery(),
        ]
    if returning:
        columns.append(returning_patient_clause(tid, patient, now=now))
    return select(*columns)


def _claim_context(
    sess: Session,
    tenant: Tenant,
    practitioner_id,
    patient_id,
    occupied: Range,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    count_patient: bool,
    returning: bool,
) -> _ClaimContext:
    """One statement after the claim's locks: expire lapsed holds in the way, read the facts.

    The expiry is a CTE whose changes the reads do not see; they need not: a lapsed hold is
    neither busy nor counted either way. Busy time is read an hour and a margin around the
    start, as :func:`_check_time` searches.
    """
    window = dt.timedelta(hours=1) + MARGIN
    row = sess.execute(
        _claim_context_statement(count_patient, returning),
        {
            "tid": tenant.id,
            "pid": practitioner_id,
            "patient": patient_id,
            "now": now,
            "occ_lo": occupied.lower,
            "occ_hi": occupied.upper,
            "start": start,
            "end": end,
            "lo": start - window,
            "hi": start + window,
        },
    ).one()
    return _ClaimContext(
        expired=list(row[0] or ()),
        busy=busy_intervals(row[1], row[2]),
        confirmed=row[3] if count_patient else 0,
        held=row[4] if count_patient else 0,
        returning=bool(row[-1]) if returning else False,
    )


def _bound_values(table, prefix: str) -> dict:
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.columns}


@functools.cache
def _booking_insert(with_alert: bool = False):
    """The INSERT of a booking, with its history row, message and waitlist ends as CTEs.

    Built once (per shape) and compiled once (SQLAlchemy's statement cache: every part has
    a cache key); every value is a parameter. ``with_alert``: the practitioner's alert is
    one more CTE (a confirmed booking; a hold alerts once paid).
    """
    w = WaitlistEntry
    day = _p("w_day", Date())
    waitlist = (
        update(w)
        .where(
            w.tenant_id == _p("a_tenant_id", _ID),
            w.patient_id == _p("a_patient_id", _ID),
            w.service_id == _p("a_service_id", _ID),
            w.status == "waiting",
            or_(w.practitioner_id.is_(None), w.practitioner_id == _p("a_practitioner_id", _ID)),
            or_(w.location_id.is_(None), w.location_id == _p("a_location_id", _ID)),
            or_(w.earliest_date.is_(None), w.earliest_date <= day),
            or_(w.latest_date.is_(None), w.latest_date >= day),
        )
        .values(status="booked")
        .returning(w.id)
    )
    return (
        insert(Appointment.__table__)
        .values(_bound_values(Appointment.__table__, "a_"))
        .add_cte(
            insert(AppointmentEvent.__table__)
            .values(_bound_values(AppointmentEvent.__table__, "e_"))
            .cte("history"),
            insert(OutboxMessage.__table__)
            .values(_bound_values(OutboxMessage.__table__, "m_"))
            .cte("message"),
            # its own CTE, not a second VALUES row: a multi-row INSERT has no cache key,
            # and the whole statement was compiled again for every booking
            *(
                [
                    insert(OutboxMessage.__table__)
                    .values(_bound_values(OutboxMessage.__table__, "n_"))
                    .cte("alert")
                ]
                if with_alert
                else []
            ),
            waitlist.cte("waitlist"),
        )
    )


def _insert_booking(sess: Session, appt, event, message, zone_name: str, alerted=None) -> None:
    params = {"w_day": appt.start_at.astimezone(engine.ZoneInfo(zone_name)).date()}
    rows = [("a_", appt), ("e_", event), ("m_", message)]
    if alerted is not None:
        rows.append(("n_", alerted))
    for prefix, obj in rows:
        params.update({prefix + k: v for k, v in db.row_values(obj).items()})
    with _claim_errors():
        sess.execute(_booking_insert(alerted is not None), params)


# -- lifecycle (rules of who, which state and when: saas.scheduling.states) ----------------------


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
    authorize("confirm", appt, actor, now)
    before = appt.status
    if appt.effective_status(now) == "expired":
        _claim_lock(sess, tenant.id, appt.practitioner_id)
        expire_blocking_holds(
            sess,
            tenant,
            appt.practitioner_id,
            appt.patient_id,
            appt.occupied,
            appt.start_at,
            appt.end_at,
            now,
        )
        sess.refresh(appt)
        before = appt.status
    appt.status, appt.hold_expires_at = "confirmed", None
    appt.paid_at, appt.payment_ref, appt.updated_at = now, payment_ref, now
    _flush_claim(sess)
    notify(
        sess, appt, "appointment.confirmed", price_minor=appt.price_minor, currency=appt.currency
    )
    record_transition(
        sess,
        tenant.id,
        actor,
        appt,
        "confirmed",
        before,
        # the note itself stays on the appointment (erasure clears it), never in the history
        data={"payment_ref_given": True} if payment_ref else None,
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
    start = _aware(start)
    rules = effective_rules(sess, tenant.id, appt.service_id)
    status = authorize("reschedule", appt, actor, now, rules=rules)
    visit_type, practitioner, location = _resolve(
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
    end = start + dt.timedelta(minutes=visit_type.duration_minutes)
    occupied = _occupied(start, end, visit_type)
    _claim_lock(sess, tenant.id, practitioner.id)
    expire_blocking_holds(sess, tenant, practitioner.id, appt.patient_id, occupied, start, end, now)
    _check_time(
        sess,
        tenant,
        actor,
        visit_type,
        practitioner,
        location,
        rules,
        start,
        now,
        exclude_id=appt.id,
    )
    old = (appt.start_at, appt.end_at, appt.practitioner_id, appt.location_id)
    appt.start_at, appt.end_at, appt.occupied = start, end, occupied
    appt.practitioner_id, appt.location_id = practitioner.id, location.id
    appt.buffer_before_minutes = visit_type.buffer_before_minutes
    appt.buffer_after_minutes = visit_type.buffer_after_minutes
    appt.reschedule_count += 1
    appt.updated_at = now
    _flush_claim(sess)
    data = {}
    if old[2] != practitioner.id:
        data["old_practitioner_id"] = str(old[2])
    if old[3] != location.id:
        data["old_location_id"] = str(old[3])
    zone = engine.ZoneInfo(location.timezone)
    notify(sess, appt, "appointment.rescheduled", old_start=old[0].astimezone(zone).isoformat())
    record_transition(
        sess, tenant.id, actor, appt, "rescheduled", status, old_start=old[0], data=data
    )
    offer_freed_time(
        sess, tenant, old[2], old[3], old[0], old[1], now=now, exclude_patient_id=appt.patient_id
    )
    return appt


def cancellation_terms(
    rules, status: str, start_at: dt.datetime, actor_kind: str, now: dt.datetime, charge_fee=False
) -> tuple[bool, int]:
    """``(late, fee)`` of cancelling now.

    Late: inside the cutoff of a confirmed visit. The fee is kept from a late patient, or
    from staff's late cancellation when they charge it. The portal states it from here too.
    """
    late = status == "confirmed" and start_at - now < dt.timedelta(
        minutes=rules.cancellation_cutoff_minutes
    )
    fee = (
        rules.late_cancellation_fee_minor if late and (actor_kind == "patient" or charge_fee) else 0
    )
    return late, fee


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
    status = authorize("cancel", appt, actor, now)
    reason = (reason or "").strip() or None
    if actor.kind == "staff" and reason is None:
        raise Invalid("Give a reason for the cancellation.", errors={"reason": "Enter a reason."})
    rules = effective_rules(sess, tenant.id, appt.service_id)
    late, fee = cancellation_terms(rules, status, appt.start_at, actor.kind, now, charge_fee)
    appt.status = "cancelled"
    appt.cancelled_at, appt.cancelled_by = now, actor.kind
    appt.cancel_reason = (
        seal_field(sess, tenant, "appointments", "cancel_reason", appt.id, reason)
        if reason
        else None
    )
    appt.late_cancellation = late and actor.kind == "patient"
    appt.fee_minor, appt.updated_at = fee, now
    sess.flush()
    notify(
        sess,
        appt,
        "appointment.cancelled",
        cancelled_by=actor.kind,
        late_cancellation=appt.late_cancellation,
        fee_minor=fee,
        currency=appt.currency,
    )
    record_transition(
        sess,
        tenant.id,
        actor,
        appt,
        "cancelled",
        status,
        reason_given=reason is not None,
        data={"late": appt.late_cancellation, "fee_minor": fee},
    )
    offer_appointment_time(sess, tenant, appt, now=now)
    _refund_by_policy(sess, tenant, appt, actor)
    return appt


def _refund_by_policy(sess: Session, tenant: Tenant, appt: Appointment, actor: Actor) -> None:
    """What was paid online goes back, less the fee kept (:mod:`billing.refunds`)."""
    from billing.refunds import refund_by_policy  # billing builds on scheduling

    refund_by_policy(sess, tenant, appt, actor)


def check_in(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    appt: Appointment,
    *,
    now: dt.datetime | None = None,
) -> Appointment:
    """The patient has arrived (staff, from two hours before the visit)."""
    now = now or utcnow()
    status = authorize("check_in", appt, actor, now)
    appt.status, appt.checked_in_at, appt.updated_at = "checked_in", now, now
    sess.flush()
    record_transition(sess, tenant.id, actor, appt, "checked_in", status)
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
    status = authorize("complete", appt, actor, now)
    appt.status, appt.completed_at, appt.updated_at = "completed", now, now
    sess.flush()
    rules = effective_rules(sess, tenant.id, appt.service_id)
    location = get_location_in_tenant(sess, tenant.id, appt.location_id)
    window = rules.follow_up_window(appt.start_at.astimezone(engine.ZoneInfo(location.timezone)))
    notify(
        sess,
        appt,
        "appointment.completed",
        follow_up={"from": window[0].isoformat(), "to": window[1].isoformat()} if window else None,
    )
    record_transition(sess, tenant.id, actor, appt, "completed", status)
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
    status = authorize("no_show", appt, actor, now)
    rules = effective_rules(sess, tenant.id, appt.service_id)
    appt.status, appt.fee_minor, appt.updated_at = "no_show", rules.late_cancellation_fee_minor, now
    sess.flush()
    notify(sess, appt, "appointment.no_show", fee_minor=appt.fee_minor, currency=appt.currency)
    record_transition(
        sess, tenant.id, actor, appt, "no_show", status, data={"fee_minor": appt.fee_minor}
    )
    _refund_by_policy(sess, tenant, appt, actor)
    return appt


#: The verb behind each action of :data:`saas.scheduling.states.ACTIONS`.
VERBS = {
    "confirm": confirm_appointment,
    "check_in": check_in,
    "complete": complete,
    "no_show": mark_no_show,
    "cancel": cancel_appointment,
    "reschedule": reschedule_appointment,
}
