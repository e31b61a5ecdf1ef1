"""Marshmallow schemas both records APIs share: the staff API and the patient's own.

The staff API (``admin/clinic/records/schemas.py``) and the portal (``portal/schemas.py``)
each add their own views of these; the rules for a contact field, a consent or a
prescription are written once, here.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate

from saas.inputs import single_line

from .consents import PURPOSES

PHONE_RE = r"^\+?[0-9][0-9 ().\-]{4,30}$"
LANG_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def not_future(value: dt.date) -> None:
    """A plausible date of birth: not in the future, not before 1900."""
    if value > dt.date.today() or value < dt.date(1900, 1, 1):
        raise ValidationError("Enter a real date of birth (not in the future).")


class CommunicationPrefsSchema(Schema):
    """Channels the clinic may use for operational contact (consents are separate)."""

    email = fields.Boolean()
    sms = fields.Boolean()
    phone = fields.Boolean()
    post = fields.Boolean()


class ContactDetailsSchema(Schema):
    """The contact details staff and the patient alike may change (sealed at rest)."""

    full_name = fields.String(validate=[validate.Length(min=1, max=160), single_line])
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(PHONE_RE, error="Enter a phone number.")
    )
    date_of_birth = fields.Date(allow_none=True, validate=not_future)
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    emergency_contact = fields.String(allow_none=True, validate=validate.Length(max=300))
    preferred_language = fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=16),  # the column's width: a longer tag is a 422, not a 500
            validate.Regexp(LANG_RE, error="Use a language tag like en, de or pt-BR."),
        ],
    )
    communication_prefs = fields.Nested(CommunicationPrefsSchema)


class ConsentGrantSchema(Schema):
    """A consent given: the purpose and the version of the text shown."""

    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    text_version = fields.String(required=True, validate=validate.Length(min=1, max=32))


class ConsentSchema(Schema):
    """A consent record (current or withdrawn)."""

    id = fields.UUID()
    patient_id = fields.UUID()
    purpose = fields.String()
    text_version = fields.String()
    channel = fields.String()
    granted_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawn_channel = fields.String(allow_none=True)
    active = fields.Function(lambda c: c.withdrawn_at is None)


class PrescriptionSchema(Schema):
    """A prescription, as :func:`saas.records.queries.prescription_dict` opens it."""

    id = fields.UUID()
    visit_id = fields.UUID()
    patient_id = fields.UUID()
    practitioner_id = fields.UUID(allow_none=True)
    practitioner_name = fields.String(allow_none=True)
    remedy = fields.String()
    potency = fields.String()
    form = fields.String(allow_none=True)
    dose = fields.String(allow_none=True)
    frequency = fields.String(allow_none=True)
    duration = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)
    start_date = fields.String(allow_none=True, metadata={"description": "ISO date"})
    follow_up_from = fields.Date(allow_none=True)
    follow_up_to = fields.Date(allow_none=True)
    follow_up_service_id = fields.UUID(allow_none=True)
    shared_with_patient = fields.Boolean()
    is_amendment = fields.Boolean()
    amendment_reason = fields.String(allow_none=True)
    voided_at = fields.DateTime(allow_none=True)
    void_reason = fields.String(allow_none=True)
    invited_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
