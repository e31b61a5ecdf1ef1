"""API shapes of the appointments API (patients and staff alike): bookings, history, waitlist.

Appointments are presented by :func:`present_appointments` (one query per related table,
not per row); times are ISO 8601 in the location's zone, which the response names. Each
carries ``allowed_actions``: what the caller may do with it now
(:func:`saas.scheduling.states.allowed_actions`), so clients show only the buttons that work.

Field names ``service_id`` and ``service`` are the visit type's, kept from before the
``Service`` → ``VisitType`` rename for compatibility with existing clients.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.actors import Actor
from saas.fields import open_field
from saas.models import Patient, utcnow

from . import catalogue
from .models import Appointment, Location, Practitioner, VisitType
from .rules import effective_rules
from .states import ACTIONS, allowed_actions

# -- requests ----------------------------------------------------------------------------------


class BookingSchema(Schema):
    """Book a free start. Staff send ``patient_id``; patients book for themselves."""

    service_id = fields.UUID(required=True, metadata={"description": "The visit type"})
    practitioner_id = fields.UUID(required=True)
    location_id = fields.UUID(required=True)
    start = fields.AwareDateTime(required=True, metadata={"example": "2026-03-02T09:00:00+01:00"})
    patient_id = fields.UUID(metadata={"description": "Staff only: the patient booked for"})


class RescheduleSchema(Schema):
    """Move to a new start (optionally another practitioner or location)."""

    start = fields.AwareDateTime(required=True)
    practitioner_id = fields.UUID()
    location_id = fields.UUID()


class CancelSchema(Schema):
    """Cancel. Staff must give a reason."""

    reason = fields.String(validate=validate.Length(max=500))
    charge_late_fee = fields.Boolean(
        load_default=False, metadata={"description": "Staff only: charge the late-cancellation fee"}
    )


class ConfirmSchema(Schema):
    """Payment received for a held booking."""

    payment_ref = fields.String(
        validate=validate.Length(max=120), metadata={"example": "cash desk #1042"}
    )


class AppointmentListQuerySchema(Schema):
    """Filters. Patients see their own appointments; staff see the clinic's schedule."""

    start = fields.AwareDateTime(data_key="from")
    end = fields.AwareDateTime(data_key="to")
    practitioner_id = fields.UUID()
    location_id = fields.UUID()
    patient_id = fields.UUID()
    status = fields.String()


class WaitlistJoinSchema(Schema):
    """Wait for a sooner slot of a visit type."""

    service_id = fields.UUID(required=True, metadata={"description": "The visit type"})
    practitioner_id = fields.UUID(allow_none=True)
    location_id = fields.UUID(allow_none=True)
    earliest_date = fields.Date(allow_none=True)
    latest_date = fields.Date(allow_none=True)
    patient_id = fields.UUID(metadata={"description": "Staff only"})


# -- responses ---------------------------------------------------------------------------------


class PractitionerRefSchema(Schema):
    """A practitioner as shown on an appointment."""

    id = fields.UUID()
    display_name = fields.String()


class LocationRefSchema(Schema):
    """A location as shown on an appointment."""

    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    address = fields.String(allow_none=True)
    timezone = fields.String()


class VisitTypeRefSchema(Schema):
    """A visit type as shown on an appointment."""

    id = fields.UUID()
    name = fields.String()
    duration_minutes = fields.Integer()


class PatientRefSchema(Schema):
    """The patient (staff views only)."""

    id = fields.UUID()
    full_name = fields.String()


class FollowUpSchema(Schema):
    """Suggested follow-up window (local dates)."""

    earliest = fields.Date()
    latest = fields.Date()


class AppointmentSchema(Schema):
    """An appointment; ``status`` shows a lapsed hold as ``expired``."""

    id = fields.UUID()
    status = fields.String()
    start = fields.String(metadata={"description": "ISO 8601 in the location's zone"})
    end = fields.String()
    timezone = fields.String()
    service = fields.Nested(VisitTypeRefSchema)
    practitioner = fields.Nested(PractitionerRefSchema)
    location = fields.Nested(LocationRefSchema)
    patient = fields.Nested(PatientRefSchema, allow_none=True)
    hold_expires_at = fields.DateTime(allow_none=True)
    price_minor = fields.Integer()
    currency = fields.String()
    booked_by = fields.String()
    paid_at = fields.DateTime(allow_none=True)
    cancellation_deadline = fields.DateTime(
        metadata={"description": "Cancel before this to avoid the late-cancellation fee"}
    )
    late_cancellation_fee_minor = fields.Integer()
    cancelled_at = fields.DateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    late_cancellation = fields.Boolean()
    fee_minor = fields.Integer(metadata={"description": "Late-cancellation or no-show fee owed"})
    reschedule_count = fields.Integer()
    checked_in_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    follow_up = fields.Nested(FollowUpSchema, allow_none=True)
    allowed_actions = fields.List(
        fields.String(validate=validate.OneOf(ACTIONS)),
        metadata={
            "description": "What the caller may do now, among "
            + ", ".join(ACTIONS)
            + " (the matching endpoints use hyphens: check-in, no-show)"
        },
    )
    created_at = fields.DateTime()


class AppointmentEventSchema(Schema):
    """One transition in an appointment's history."""

    id = fields.UUID()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    old_start_at = fields.DateTime(allow_none=True)
    new_start_at = fields.DateTime(allow_none=True)
    actor_kind = fields.String()
    actor_label = fields.String()
    #: ``reason_given`` marks a cancellation with a reason (the text is on the appointment)
    data = fields.Dict()
    created_at = fields.DateTime()


class WaitlistEntrySchema(Schema):
    """A waitlist entry."""

    id = fields.UUID()
    patient_id = fields.UUID()
    service_id = fields.UUID()
    practitioner_id = fields.UUID(allow_none=True)
    location_id = fields.UUID(allow_none=True)
    earliest_date = fields.Date(allow_none=True)
    latest_date = fields.Date(allow_none=True)
    status = fields.String()
    last_offered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


def _by_id(sess: Session, model, tenant_id, ids) -> dict:
    if not ids:
        return {}
    return {
        row.id: row
        for row in sess.scalars(
            select(model).where(model.tenant_id == tenant_id, model.id.in_(ids))
        )
    }


def _cancel_reason(sess: Session, tenant_id, appt: Appointment) -> str | None:
    """The sealed cancellation reason, opened for the one who may see the appointment."""
    if appt.cancel_reason is None:
        return None
    return open_field(sess, tenant_id, "appointments", "cancel_reason", appt.id, appt.cancel_reason)


def present_appointments(
    sess: Session,
    tenant_id,
    appts: list[Appointment],
    actor: Actor,
    *,
    now: dt.datetime | None = None,
) -> list[dict]:
    """Appointments as ``actor`` sees them (with the patient for staff, and allowed actions).

    Names of the visit type, practitioner and location are included; lists cost one query
    per related table, not per row.
    """
    now = now or utcnow()
    include_patient = actor.is_staff
    cat = catalogue.current(sess, tenant_id)
    if cat is not None:
        visit_types, practitioners, locations = cat.visit_types, cat.practitioners, cat.locations
        rules = {sid: cat.rules_for(sid) for sid in {a.service_id for a in appts}}
    else:
        visit_types = _by_id(sess, VisitType, tenant_id, {a.service_id for a in appts})
        practitioners = _by_id(sess, Practitioner, tenant_id, {a.practitioner_id for a in appts})
        locations = _by_id(sess, Location, tenant_id, {a.location_id for a in appts})
        rules = {sid: effective_rules(sess, tenant_id, sid) for sid in visit_types}
    patients = (
        _by_id(sess, Patient, tenant_id, {a.patient_id for a in appts}) if include_patient else {}
    )
    out = []
    for a in appts:
        s, p, loc = (
            visit_types[a.service_id],
            practitioners[a.practitioner_id],
            locations[a.location_id],
        )
        zone = ZoneInfo(loc.timezone)
        r = rules[a.service_id]
        window = r.follow_up_window(a.start_at.astimezone(zone))
        allowed = allowed_actions(a, actor, now, rules=r)
        out.append(
            {
                "id": a.id,
                "status": a.effective_status(now),
                "start": a.start_at.astimezone(zone).isoformat(),
                "end": a.end_at.astimezone(zone).isoformat(),
                "timezone": loc.timezone,
                "service": s,
                "practitioner": p,
                "location": loc,
                "patient": patients.get(a.patient_id) if include_patient else None,
                "hold_expires_at": a.hold_expires_at,
                "price_minor": a.price_minor,
                "currency": a.currency,
                "booked_by": a.booked_by,
                "paid_at": a.paid_at,
                "cancellation_deadline": a.start_at
                - dt.timedelta(minutes=r.cancellation_cutoff_minutes),
                "late_cancellation_fee_minor": r.late_cancellation_fee_minor,
                "cancelled_at": a.cancelled_at,
                "cancelled_by": a.cancelled_by,
                "cancel_reason": (
                    open_field(
                        sess, tenant_id, "appointments", "cancel_reason", a.id, a.cancel_reason
                    )
                    if a.cancel_reason is not None
                    else None
                ),
                "late_cancellation": a.late_cancellation,
                "fee_minor": a.fee_minor,
                "reschedule_count": a.reschedule_count,
                "checked_in_at": a.checked_in_at,
                "completed_at": a.completed_at,
                "follow_up": {"earliest": window[0], "latest": window[1]} if window else None,
                "allowed_actions": [x for x in ACTIONS if x in allowed],
                "created_at": a.created_at,
            }
        )
    return out
