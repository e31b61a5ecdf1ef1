"""API schemas for patients, clinical records, consents, exports and erasure (staff side).

Contact details, consents and prescriptions share their rules with the patient's own API
(:mod:`saas.records.schemas`).
"""

from __future__ import annotations

import re

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from saas.inputs import single_line
from saas.records.consents import CHANNELS
from saas.records.schemas import (
    ConsentGrantSchema,
    ContactDetailsSchema,
    PrescriptionSchema,
)

#: Decimal (6X, D6), centesimal (30C, 200CH, 1M, 10M, CM, MM), LM/Q potencies, mother tincture.
POTENCY_RE = re.compile(
    r"^(?:\d{1,4}(?:X|C|CH|K)|D\d{1,4}|\d{1,3}M|CM|MM|LM\s?\d{1,3}|Q\s?\d{1,3}|Q|MT|Ø)$", re.I
)
TEXT = validate.Length(max=20000)


class PatientUpdateSchema(ContactDetailsSchema):
    """Changed demographics (only the fields sent change; null clears a field)."""

    email = fields.Email(allow_none=True)


class PatientCreateSchema(PatientUpdateSchema):
    """A new patient (staff)."""

    full_name = fields.String(
        required=True, validate=[validate.Length(min=1, max=160), single_line]
    )


class PatientSchema(Schema):
    """A patient's demographics."""

    id = fields.UUID()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    address = fields.String(allow_none=True)
    emergency_contact = fields.String(allow_none=True)
    preferred_language = fields.String(allow_none=True)
    communication_prefs = fields.Dict()
    has_portal_login = fields.Boolean()
    email_verified = fields.Boolean()
    status = fields.String()
    created_at = fields.DateTime()


class PatientQuerySchema(Schema):
    """Search: name substring and/or exact email."""

    q = fields.String(
        validate=validate.Length(max=160), metadata={"description": "part of the name"}
    )
    email = fields.String(
        validate=validate.Length(max=254), metadata={"description": "exact email"}
    )


# -- clinical ---------------------------------------------------------------------------------
class ComplaintSchema(Schema):
    """One presenting complaint."""

    complaint = fields.String(required=True, validate=validate.Length(min=1, max=500))
    location = fields.String(validate=validate.Length(max=500))
    sensation = fields.String(validate=validate.Length(max=500))
    onset = fields.String(validate=validate.Length(max=500))
    duration = fields.String(validate=validate.Length(max=200))
    better_for = fields.String(validate=validate.Length(max=1000))
    worse_for = fields.String(validate=validate.Length(max=1000))


class FollowUpResponseSchema(Schema):
    """The response to the last prescription, recorded at a follow-up."""

    response = fields.String(validate=validate.OneOf(("better", "worse", "no_change", "mixed")))
    aggravation = fields.Boolean()
    new_symptoms = fields.String(validate=TEXT)
    notes = fields.String(validate=TEXT)


class CaseNoteSectionsSchema(Schema):
    """The sections of a homeopathic case note."""

    presenting_complaints = fields.List(
        fields.Nested(ComplaintSchema), validate=validate.Length(max=50)
    )
    modalities = fields.String(validate=TEXT)
    mentals = fields.String(validate=TEXT, metadata={"description": "mentals and emotionals"})
    generals = fields.String(validate=TEXT)
    past_history = fields.String(validate=TEXT)
    family_history = fields.String(validate=TEXT)
    observations = fields.String(validate=TEXT)
    analysis = fields.String(
        validate=TEXT, metadata={"description": "rubrics and remedies considered"}
    )
    follow_up = fields.Nested(FollowUpResponseSchema)
    outcome = fields.String(validate=TEXT)
    plan = fields.String(validate=TEXT)


class VisitCreateSchema(Schema):
    """Open a visit's clinical record."""

    kind = fields.String(required=True, validate=validate.OneOf(("initial", "follow_up", "acute")))
    visit_date = fields.Date(load_default=None)
    practitioner_id = fields.UUID(load_default=None)
    appointment_id = fields.UUID(load_default=None)
    note = fields.Nested(CaseNoteSectionsSchema, load_default=None)


class NoteVersionRequestSchema(Schema):
    """A new version of the notes; ``reason`` is required once the visit is signed."""

    sections = fields.Nested(CaseNoteSectionsSchema, required=True)
    reason = fields.String(validate=validate.Length(max=1000), load_default=None)
    expected_version = fields.Integer(
        load_default=None, metadata={"description": "optimistic lock"}
    )


class NoteSchema(Schema):
    """One version of a visit's notes."""

    visit_id = fields.UUID()
    version = fields.Integer()
    is_amendment = fields.Boolean()
    reason = fields.String(allow_none=True)
    author_id = fields.UUID(allow_none=True)
    author_name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sections = fields.Dict()


class NoteMetaSchema(Schema):
    """A version in the history (without the body)."""

    version = fields.Integer()
    is_amendment = fields.Boolean()
    reason = fields.String(allow_none=True)
    author_name = fields.String(allow_none=True)
    created_at = fields.DateTime()


class PrescriptionRequestSchema(Schema):
    """A prescription; the follow-up window is in days after the visit."""

    remedy = fields.String(required=True, validate=validate.Length(min=1, max=120))
    potency = fields.String(required=True)
    form = fields.String(
        validate=validate.OneOf(
            ("globules", "pills", "tablets", "liquid", "drops", "powder", "other")
        )
    )
    dose = fields.String(validate=validate.Length(max=200))
    frequency = fields.String(validate=validate.Length(max=200))
    duration = fields.String(validate=validate.Length(max=200))
    instructions = fields.String(validate=validate.Length(max=2000))
    start_date = fields.Date(metadata={"description": "when the patient starts the remedy"})
    follow_up_from_days = fields.Integer(validate=validate.Range(min=1, max=730))
    follow_up_to_days = fields.Integer(validate=validate.Range(min=1, max=730))
    follow_up_service_id = fields.UUID(
        metadata={"description": "the clinic's follow-up service the booking link pre-selects"}
    )
    shared_with_patient = fields.Boolean(load_default=False)
    amendment_reason = fields.String(validate=validate.Length(max=1000))

    @validates("potency")
    def _potency(self, value, **_):
        if not POTENCY_RE.match(value.strip()):
            raise ValidationError("Use a potency like 6X, D6, 30C, 200C, 1M, LM1 or Q.")

    @post_load
    def _normalise(self, data, **_):
        data["potency"] = data["potency"].strip().upper().replace(" ", "")
        return data


class VisitSchema(Schema):
    """A visit's clinical record with its current notes."""

    id = fields.UUID()
    patient_id = fields.UUID()
    practitioner_id = fields.UUID(allow_none=True)
    practitioner_name = fields.String(allow_none=True)
    appointment_id = fields.UUID(allow_none=True)
    kind = fields.String()
    visit_date = fields.Date()
    status = fields.String()
    signed_at = fields.DateTime(allow_none=True)
    signed_by = fields.UUID(allow_none=True)
    shared_with_patient = fields.Boolean()
    patient_summary = fields.String(allow_none=True)
    note = fields.Nested(NoteSchema, allow_none=True)
    versions = fields.List(fields.Nested(NoteMetaSchema))
    prescriptions = fields.List(fields.Nested(PrescriptionSchema))


class ShareVisitSchema(Schema):
    """Share (or stop sharing) a signed visit's summary with the patient."""

    shared_with_patient = fields.Boolean(required=True)
    patient_summary = fields.String(validate=validate.Length(max=5000), load_default=None)


class SharePrescriptionSchema(Schema):
    """Share (or stop sharing) a prescription with the patient."""

    shared_with_patient = fields.Boolean(required=True)


class ReasonSchema(Schema):
    """A reason (void, end, ...)."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class FactRequestSchema(Schema):
    """An allergy or current medication."""

    kind = fields.String(required=True, validate=validate.OneOf(("allergy", "medication")))
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), single_line])
    details = fields.String(validate=validate.Length(max=2000), load_default=None)


class FactSchema(Schema):
    """An allergy or medication entry."""

    id = fields.UUID()
    kind = fields.String()
    name = fields.String()
    details = fields.String(allow_none=True)
    created_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)


class RecordSchema(Schema):
    """A patient's whole clinical record."""

    patient = fields.Nested(PatientSchema)
    allergies = fields.List(fields.Nested(FactSchema))
    medications = fields.List(fields.Nested(FactSchema))
    visits = fields.List(fields.Nested(VisitSchema))
    prescriptions = fields.List(fields.Nested(PrescriptionSchema))


class RecallQuerySchema(Schema):
    """Recall list window."""

    within_days = fields.Integer(load_default=14, validate=validate.Range(min=0, max=365))


class RecallItemSchema(Schema):
    """A follow-up due; ``remedy``/``potency`` only for roles that may see clinical content."""

    prescription_id = fields.UUID()
    patient_id = fields.UUID()
    patient_name = fields.String()
    practitioner_id = fields.UUID(allow_none=True)
    practitioner_name = fields.String(allow_none=True)
    follow_up_from = fields.Date()
    follow_up_to = fields.Date()
    follow_up_service_id = fields.UUID(allow_none=True)
    status = fields.String(metadata={"description": "upcoming, due or overdue"})
    invited_at = fields.DateTime(allow_none=True)
    booking_url = fields.String(metadata={"description": "portal booking page, pre-filtered"})
    slots_url = fields.String(
        allow_none=True, metadata={"description": "slots API query for the follow-up window"}
    )
    remedy = fields.String()
    potency = fields.String()


class AttachmentSchema(Schema):
    """An attachment's metadata."""

    id = fields.UUID()
    patient_id = fields.UUID()
    visit_id = fields.UUID(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    created_at = fields.DateTime()


class UploadSchema(Schema):
    """The uploaded file (multipart field ``file``)."""

    file = Upload(required=True)


class UploadQuerySchema(Schema):
    """The visit an upload belongs to (optional)."""

    visit_id = fields.UUID(load_default=None)


# -- consents ------------------------------------------------------------------------------------
class ConsentRequestSchema(ConsentGrantSchema):
    """A consent given, and how it was received."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


class WithdrawSchema(Schema):
    """How the withdrawal was received."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


# -- exports, erasure, settings --------------------------------------------------------------------
class ExportSchema(Schema):
    """A data export request."""

    id = fields.UUID()
    patient_id = fields.UUID()
    status = fields.String()
    size_bytes = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    ready_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    downloaded_at = fields.DateTime(allow_none=True)


class ErasureRequestSchema(Schema):
    """Erase a patient: confirm with their exact name; the reason is a category."""

    confirm_name = fields.String(required=True)
    reason = fields.String(
        required=True, validate=validate.OneOf(("patient_request", "retention", "other"))
    )
    reference = fields.String(
        validate=validate.Length(max=64),
        load_default=None,
        metadata={"description": "your ticket/reference; must not identify the patient"},
    )


class ErasureSchema(Schema):
    """What erasure removed, and until when the law keeps the clinical record."""

    patient_id = fields.UUID()
    status = fields.String()
    erased_at = fields.DateTime()
    removed = fields.Dict(keys=fields.String(), values=fields.Integer())
    records_kept_until = fields.Date(
        allow_none=True,
        metadata={
            "description": "erased within the retention period: the clinical record, name and "
            "date of birth are kept until this date, then erased; null: nothing kept"
        },
    )


class LegalHoldRequestSchema(Schema):
    """Place a legal hold: the reason is required (sealed; not in the audit log)."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class LegalHoldSchema(Schema):
    """A patient's legal hold."""

    patient_id = fields.UUID()
    on_hold = fields.Boolean()
    since = fields.DateTime(allow_none=True)
    by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class AccessLevelsSchema(Schema):
    """Clinical access of configurable roles."""

    owner = fields.String(validate=validate.OneOf(("none", "read", "write")))
    admin = fields.String(validate=validate.OneOf(("none", "read", "write")))


class RecordsSettingsSchema(Schema):
    """Per-clinic records settings."""

    clinical_access = fields.Nested(AccessLevelsSchema)
    retention_years = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100))
    follow_up_invite_lead_days = fields.Integer(validate=validate.Range(min=0, max=60))
