"""An appointment's history: one ``appointment_events`` row per transition, and its audit entry.

Decisions: the history is append-only and says who acted (kind, id, label), from which
state to which, and for a move from which time to which; the audit entry written with it
(``appointment.<action>``) carries the same facts for the clinic's tamper-evident log. Both
are written in the transaction of the change, after the domain rows (the audit chain's
per-clinic lock is held until commit, so it is taken last).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor

from .models import Appointment, AppointmentEvent

#: Actions whose event records the new start time.
MOVES = ("booked", "rescheduled")


def transition_event(
    tenant_id,
    actor: Actor,
    appt: Appointment,
    action: str,
    from_status: str | None,
    *,
    old_start: dt.datetime | None = None,
    reason_given: bool = False,
    data: dict | None = None,
) -> AppointmentEvent:
    """The history row of ``action`` (not yet added to a session)."""
    return AppointmentEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        appointment_id=appt.id,
        action=action,
        from_status=from_status,
        to_status=appt.status,
        old_start_at=old_start,
        new_start_at=appt.start_at if action in MOVES else None,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        data={**({"reason_given": True} if reason_given else {}), **(data or {})},
    )


def audit_transition(
    sess: Session,
    tenant_id,
    actor: Actor,
    appt: Appointment,
    action: str,
    from_status: str | None,
    *,
    reason_given: bool = False,
    data: dict | None = None,
) -> None:
    """The audit entry of ``action`` (takes the clinic's audit-chain lock: write it last)."""
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
            **({"reason_given": True} if reason_given else {}),
            **(data or {}),
        },
    )


def record_transition(
    sess: Session,
    tenant_id,
    actor: Actor,
    appt: Appointment,
    action: str,
    from_status: str | None,
    *,
    old_start: dt.datetime | None = None,
    reason_given: bool = False,
    data: dict | None = None,
) -> None:
    """Write the history row and the audit entry of ``action`` (``appt`` already changed).

    Neither holds free text: ``reason_given`` records that a reason exists (it is sealed on
    the appointment), so nothing a patient wrote outlives their erasure here.
    """
    sess.add(
        transition_event(
            tenant_id,
            actor,
            appt,
            action,
            from_status,
            old_start=old_start,
            reason_given=reason_given,
            data=data,
        )
    )
    audit_transition(
        sess, tenant_id, actor, appt, action, from_status, reason_given=reason_given, data=data
    )


def appointment_history(sess: Session, tenant_id, appointment_id) -> list[AppointmentEvent]:
    """Every transition of one of the clinic's appointments, oldest first."""
    return list(
        sess.scalars(
            select(AppointmentEvent)
            .where(
                AppointmentEvent.tenant_id == tenant_id,
                AppointmentEvent.appointment_id == appointment_id,
            )
            .order_by(AppointmentEvent.created_at, AppointmentEvent.id)
        )
    )
