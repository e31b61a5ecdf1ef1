"""Patient API for the signed-in patient's own data: profile, shared records, consents.

Patients see only what the clinic chose to share: signed visits marked shared (date, kind,
practitioner and the summary written for them, never the case notes) and prescriptions
marked shared. Every read is audited as a clinical read by the patient. The sign-in email
cannot be changed here (it is the login identity; the clinic changes it).
"""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate

from saas import db
from saas.models import Patient
from saas.patients import authenticate_patient_bearer
from saas.records import consents as consent_svc
from saas.records import errors, queries, services

blp = Blueprint(
    "patient_records_api",
    __name__,
    url_prefix="/api/v1/patients/me",
    description="The signed-in patient's profile, shared records and consents",
)
errors.register(blp)
PHONE_RE = r"^\+?[0-9][0-9 ().\-]{4,30}$"


def _not_future(value) -> None:
    import datetime as dt

    if value > dt.date.today() or value < dt.date(1900, 1, 1):
        raise ValidationError("Enter a real date of birth (not in the future).")


class ProfileSchema(Schema):
    """The patient's own profile."""

    id = fields.UUID(dump_only=True)
    full_name = fields.String(validate=validate.Length(min=1, max=160))
    email = fields.String(dump_only=True)
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(PHONE_RE, error="Enter a phone number.")
    )
    date_of_birth = fields.Date(allow_none=True, validate=_not_future)
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    emergency_contact = fields.String(allow_none=True, validate=validate.Length(max=300))
    preferred_language = fields.String(
        allow_none=True,
        validate=validate.Regexp(
            r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="Use a tag like en or pt-BR."
        ),
    )
    communication_prefs = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("email", "sms", "phone", "post"))),
        values=fields.Boolean(),
    )


class SharedVisitSchema(Schema):
    """A visit summary shared by the clinic."""

    id = fields.UUID()
    kind = fields.String()
    visit_date = fields.Date()
    practitioner_name = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)


class SharedPrescriptionSchema(Schema):
    """A prescription shared by the clinic."""

    id = fields.UUID()
    visit_id = fields.UUID()
    practitioner_name = fields.String(allow_none=True)
    remedy = fields.String()
    potency = fields.String()
    form = fields.String(allow_none=True)
    dose = fields.String(allow_none=True)
    frequency = fields.String(allow_none=True)
    duration = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)
    follow_up_from = fields.Date(allow_none=True)
    follow_up_to = fields.Date(allow_none=True)
    created_at = fields.DateTime()


class MyConsentSchema(Schema):
    """One of my consents."""

    id = fields.UUID()
    purpose = fields.String()
    text_version = fields.String()
    channel = fields.String()
    granted_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    active = fields.Function(lambda c: c.withdrawn_at is None)


class GiveConsentSchema(Schema):
    """Agree to a purpose (the version of the text shown)."""

    purpose = fields.String(required=True, validate=validate.OneOf(consent_svc.PURPOSES))
    text_version = fields.String(required=True, validate=validate.Length(min=1, max=32))


def _me() -> Patient:
    patient = authenticate_patient_bearer()
    if patient is None:
        abort(401, message="Sign in: send a valid patient bearer token.")
    return patient


def _profile(patient: Patient) -> dict:
    return queries.demographics(db.session, patient)


@blp.route("/profile")
class Profile(MethodView):
    """My profile."""

    @blp.response(200, ProfileSchema)
    def get(self):
        """My contact details and preferences."""
        return _profile(_me())

    @blp.arguments(ProfileSchema)
    @blp.response(200, ProfileSchema)
    def patch(self, data):
        """Change my contact details (only the fields sent; null clears)."""
        patient = _me()
        services.update_demographics(db.session, g.tenant, patient, data, actor=None)
        out = _profile(patient)
        db.session.commit()
        return out


@blp.route("/visits")
class MyVisits(MethodView):
    """Visit summaries the clinic shared with me."""

    @blp.response(200, SharedVisitSchema(many=True))
    def get(self):
        """Shared visit summaries, newest first."""
        patient = _me()
        out = queries.shared_visits_for_patient(db.session, g.tenant, patient)
        db.session.commit()
        return out


@blp.route("/prescriptions")
class MyPrescriptions(MethodView):
    """Prescriptions the clinic shared with me."""

    @blp.response(200, SharedPrescriptionSchema(many=True))
    def get(self):
        """Shared prescriptions, newest first."""
        patient = _me()
        out = queries.shared_prescriptions_for_patient(db.session, g.tenant, patient)
        db.session.commit()
        return out


@blp.route("/consents")
class MyConsents(MethodView):
    """My consents."""

    @blp.response(200, MyConsentSchema(many=True))
    def get(self):
        """Every consent I gave or withdrew."""
        patient = _me()
        return consent_svc.list_consents(db.session, g.tenant, patient)

    @blp.arguments(GiveConsentSchema)
    @blp.response(201, MyConsentSchema)
    def post(self, data):
        """Give a consent (e.g. reminders by email)."""
        patient = _me()
        consent = consent_svc.record_consent(
            db.session,
            g.tenant,
            patient,
            purpose=data["purpose"],
            text_version=data["text_version"],
            channel="portal",
            actor=patient,
        )
        db.session.commit()
        return consent


@blp.route("/consents/<purpose>/withdraw")
class MyConsentWithdraw(MethodView):
    """Withdrawal."""

    @blp.response(200, MyConsentSchema)
    def post(self, purpose: str):
        """Withdraw my consent for a purpose."""
        patient = _me()
        consent = consent_svc.standing_consent(db.session, g.tenant.id, patient.id, purpose)
        if consent is None:
            abort(404, message="You have no standing consent for this purpose.")
        consent_svc.withdraw_consent(db.session, g.tenant, consent, channel="portal", actor=patient)
        db.session.commit()
        return consent
