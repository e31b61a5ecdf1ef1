"""What scheduling tells people: refusals by reason, and the notifications patients get.

Decisions:

- Every refusal carries a stable machine-readable ``reason`` clients branch on, with one
  human message per reason (:data:`REFUSALS`). A conflict with the current state
  (``slot_taken``, ``patient_busy``, ``invalid_state``) is a :class:`~saas.exceptions.Conflict`
  (409); every other rule is :class:`~saas.exceptions.Invalid` (422).
- Notifications are outbox messages written in the transaction of the change they announce
  (so a message exists only if the change committed). They carry ids and the visit's
  details, never contact data: the notification worker resolves the patient's address at
  delivery time. Topics: ``appointment.held``, ``.confirmed``, ``.rescheduled``,
  ``.cancelled``, ``.completed``, ``.no_show``, ``.hold_expired``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from saas import outbox
from saas.exceptions import Conflict, Invalid

from . import catalogue
from .models import Appointment, Location, Practitioner, VisitType
from .queries import get_location_in_tenant, get_practitioner_in_tenant, get_visit_type_in_tenant

REFUSALS = {
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
    "booking_limit": (
        "You already have as many upcoming appointments as this clinic allows online. "
        "Please call the clinic to book more."
    ),
    "hold_limit": ("You already have an appointment waiting for payment. Pay or cancel it first."),
    "unchanged": "The new time is the same as the current one.",
}
#: Reasons that conflict with the current state (409) rather than break a rule (422).
CONFLICTS = frozenset(
    {"slot_taken", "patient_busy", "invalid_state", "booking_limit", "hold_limit"}
)


def refuse(reason: str, message: str | None = None) -> Conflict | Invalid:
    """The refusal for ``reason``, with its standard message unless one is given."""
    kind = Conflict if reason in CONFLICTS else Invalid
    return kind(message or REFUSALS.get(reason, reason), reason=reason)


def describe(
    sess: Session,
    appt: Appointment,
    *,
    visit_type: VisitType | None = None,
    practitioner: Practitioner | None = None,
    location: Location | None = None,
) -> dict:
    """The visit's details for messages and calendars (no contact data)."""
    tid = appt.tenant_id
    cat = catalogue.current(sess, tid)
    if cat is not None:
        visit_type = visit_type or cat.visit_types.get(appt.service_id)
        practitioner = practitioner or cat.practitioners.get(appt.practitioner_id)
        location = location or cat.locations.get(appt.location_id)
    visit_type = visit_type or get_visit_type_in_tenant(sess, tid, appt.service_id)
    practitioner = practitioner or get_practitioner_in_tenant(sess, tid, appt.practitioner_id)
    location = location or get_location_in_tenant(sess, tid, appt.location_id)
    zone = ZoneInfo(location.timezone)
    return {
        "appointment_id": str(appt.id),
        "patient_id": str(appt.patient_id),
        "status": appt.status,
        "service": visit_type.name,
        "practitioner": practitioner.display_name,
        "location": location.name,
        "location_kind": location.kind,
        "address": location.address,
        "timezone": location.timezone,
        "start": appt.start_at.astimezone(zone).isoformat(),
        "end": appt.end_at.astimezone(zone).isoformat(),
    }


def notify(sess: Session, appt: Appointment, topic: str, *, known: dict | None = None, **extra):
    """Tell the patient about ``appt`` (an outbox message on ``topic``).

    ``known`` passes already loaded ``visit_type``/``practitioner``/``location`` rows to
    :func:`describe`; ``extra`` adds topic-specific fields (fee, old start, follow-up...).
    A new booking, cancellation or reschedule also alerts the practitioner (:func:`alert`).
    """
    message = notification(sess, appt, topic, known=known, **extra)
    sess.add(message)
    if topic in ALERTS:
        sess.add(alert(sess, appt, topic, message.payload))


#: Events on a practitioner's calendar they are emailed about (``practitioner.alert``).
ALERTS = ("appointment.confirmed", "appointment.cancelled", "appointment.rescheduled")
ALERT_TOPIC = "practitioner.alert"


def alert(sess: Session, appt: Appointment, topic: str, payload: dict):
    """The practitioner's alert for ``topic`` (an outbox message, in the caller's transaction).

    Whether it is sent (the practitioner's ``alerts_enabled``, a linked staff account) is
    decided at delivery, so turning alerts off also stops those already queued.
    """
    return outbox.message(
        sess,
        appt.tenant_id,
        ALERT_TOPIC,
        {**payload, "event": topic, "practitioner_id": str(appt.practitioner_id)},
    )


def notification(
    sess: Session, appt: Appointment, topic: str, *, known: dict | None = None, **extra
):
    """The outbox message :func:`notify` writes, for a caller that inserts it itself."""
    payload = {**describe(sess, appt, **(known or {})), **extra}
    return outbox.message(sess, appt.tenant_id, topic, payload)
