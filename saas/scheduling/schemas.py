"""API shapes shared by the staff and patient APIs: appointments, history, waitlist entries.

Appointments are presented by :func:`present_appointments` (one query per related table,
not per row); times are ISO 8601 in the location's zone, which the response names.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.models import Patient, utcnow

from .models import Appointment, Location, Practitioner, VisitType
from .rules import effective_rules


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
    reason = fields.String(allow_none=True)
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


def present_appointments(
    sess: Session,
    tenant_id,
    appts: list[Appointment],
    *,
    include_patient: bool,
    now: dt.datetime | None = None,
) -> list[dict]:
    """Appointments as API dicts (names of service, practitioner, location; patient for staff)."""
    now = now or utcnow()
    services = _by_id(sess, VisitType, tenant_id, {a.service_id for a in appts})
    practitioners = _by_id(sess, Practitioner, tenant_id, {a.practitioner_id for a in appts})
    locations = _by_id(sess, Location, tenant_id, {a.location_id for a in appts})
    patients = (
        _by_id(sess, Patient, tenant_id, {a.patient_id for a in appts}) if include_patient else {}
    )
    rules = {sid: effective_rules(sess, tenant_id, sid) for sid in services}
    out = []
    for a in appts:
        s, p, loc = (
            services[a.service_id],
            practitioners[a.practitioner_id],
            locations[a.location_id],
        )
        zone = ZoneInfo(loc.timezone)
        r = rules[a.service_id]
        window = r.follow_up_window(a.start_at.astimezone(zone))
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
                "cancel_reason": a.cancel_reason,
                "late_cancellation": a.late_cancellation,
                "fee_minor": a.fee_minor,
                "reschedule_count": a.reschedule_count,
                "checked_in_at": a.checked_in_at,
                "completed_at": a.completed_at,
                "follow_up": {"earliest": window[0], "latest": window[1]} if window else None,
                "created_at": a.created_at,
            }
        )
    return out
