"""Patient API schemas: registration and sign-in, the patient's profile, records, consents."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from saas.inputs import single_line
from saas.records.queries import SHARED_PRESCRIPTION_FIELDS
from saas.records.schemas import (
    ConsentGrantSchema,
    ConsentSchema,
    ContactDetailsSchema,
    PrescriptionSchema,
)


class RegisterSchema(Schema):
    """Portal self-registration (email first: the password is chosen via the emailed link)."""

    full_name = fields.String(
        required=True, validate=[validate.Length(min=1, max=160), single_line]
    )
    email = fields.Email(required=True)


class RegisterResultSchema(Schema):
    """The same answer for every address."""

    status = fields.String()
    message = fields.String()


class VerifySchema(Schema):
    """The token from the emailed link and the password the patient chooses."""

    token = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class PatientLoginSchema(Schema):
    """Portal sign-in."""

    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)
    code = fields.String(
        load_only=True,
        load_default=None,
        validate=validate.Length(max=40),
        metadata={
            "description": "For a patient who turned on two-step sign-in: the current code "
            "from the authenticator app, or an unused recovery code. Without it such a "
            "sign-in answers 401 with reason `code_required`."
        },
    )


class PatientTokenSchema(Schema):
    """A portal bearer token."""

    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class PatientSelfSchema(Schema):
    """The signed-in patient."""

    id = fields.UUID()
    full_name = fields.String()
    #: None for a patient the clinic registered without an address
    email = fields.String(allow_none=True)
    email_verified = fields.Boolean()


# -- the patient's own profile, shared records and consents ----------------------------------------
class ProfileSchema(ContactDetailsSchema):
    """The patient's own profile (the sign-in email is changed by the clinic only)."""

    id = fields.UUID(dump_only=True)
    email = fields.String(dump_only=True, allow_none=True)


class SharedVisitSchema(Schema):
    """A visit summary shared by the clinic."""

    id = fields.UUID()
    kind = fields.String()
    visit_date = fields.Date()
    practitioner_name = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)


class SharedPrescriptionSchema(PrescriptionSchema):
    """A prescription shared by the clinic (no internal fields)."""

    class Meta:
        """What the patient sees of a prescription."""

        fields = SHARED_PRESCRIPTION_FIELDS


class MyConsentSchema(ConsentSchema):
    """One of my consents."""

    class Meta:
        """What the patient sees of a consent."""

        exclude = ("patient_id", "withdrawn_channel")


class GiveConsentSchema(ConsentGrantSchema):
    """Agree to a purpose (the version of the text shown)."""
