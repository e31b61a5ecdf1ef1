"""Holds: a booking awaiting prepayment keeps its time until ``hold_expires_at``, then lapses.

Decisions:

- A lapsed hold never blocks: it is ``expired`` to everyone at once
  (:meth:`Appointment.effective_status`), the slot search ignores it, and a claim of time
  first expires the lapsed holds in its way (:func:`expire_blocking_holds`) in its own
  transaction. The sweep (:func:`expire_holds`, run by the scheduling worker) makes the
  state visible in the row and offers the freed time to the waitlist.
- Expiry (``held`` → ``expired``) is the system's transition: history, audit entry and an
  ``appointment.hold_expired`` message, like any other.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.orm import Session

from saas.actors import SYSTEM
from saas.clinic_states import OPERATING
from saas.models import Tenant, utcnow

from .history import record_transition
from .messages import notify
from .models import Appointment
from .waitlist import offer_appointment_time


def _expire(sess: Session, tenant: Tenant, condition, now: dt.datetime) -> list[Appointment]:
    """Mark lapsed holds matching ``condition`` expired; history, audit, outbox."""
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
    return announce_expired(sess, tenant, ids, now)


def announce_expired(
    sess: Session, tenant: Tenant, ids: list, now: dt.datetime
) -> list[Appointment]:
    """History, audit entry and message of holds just marked expired (``ids``)."""
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
        notify(sess, appt, "appointment.hold_expired")
        record_transition(sess, tenant.id, SYSTEM, appt, "hold_expired", "held")
    return expired


def expire_blocking_holds(
    sess: Session, tenant: Tenant, practitioner_id, patient_id, occupied, start, end, now
) -> None:
    """Expire lapsed holds in the way of a claim: the practitioner's time or the patient's."""
    _expire(sess, tenant, blocking_holds(practitioner_id, patient_id, occupied, start, end), now)


def blocking_holds(practitioner_id, patient_id, occupied, start, end):
    """Appointments in the way of a claim: on the practitioner's time or the patient's."""
    return or_(
        and_(
            Appointment.practitioner_id == practitioner_id,
            Appointment.occupied.op("&&")(func.tstzrange(occupied.lower, occupied.upper)),
        ),
        and_(
            Appointment.patient_id == patient_id,
            func.tstzrange(Appointment.start_at, Appointment.end_at).op("&&")(
                func.tstzrange(start, end)
            ),
        ),
    )


def expire_holds(sess: Session, tenant: Tenant, *, now: dt.datetime | None = None) -> int:
    """Sweep: expire every lapsed hold of a clinic and offer the freed time (worker).

    The freed time goes to the waitlist only while patients can book (a suspended or
    closing clinic's holds lapse, but nobody is invited to a paused portal).
    """
    now = now or utcnow()
    expired = _expire(sess, tenant, true(), now)
    if tenant.status in OPERATING:
        for appt in expired:
            offer_appointment_time(sess, tenant, appt, now=now)
    return len(expired)


def release_hold(sess: Session, tenant: Tenant, appointment_id, *, now: dt.datetime | None = None):
    """The hold's payment lapsed (checkout expired): it is expired now and its time offered."""
    now = now or utcnow()
    ids = list(
        sess.scalars(
            update(Appointment)
            .where(
                Appointment.tenant_id == tenant.id,
                Appointment.id == appointment_id,
                Appointment.status == "held",
            )
            .values(status="expired", hold_expires_at=now, updated_at=now)
            .returning(Appointment.id)
        )
    )
    expired = announce_expired(sess, tenant, ids, now)
    for appt in expired:
        offer_appointment_time(sess, tenant, appt, now=now)
    return expired
