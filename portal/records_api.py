"""Patient API for the signed-in patient's own data: profile, shared records, consents.

Patients see only what the clinic chose to share: signed visits marked shared (date, kind,
practitioner and the summary written for them, never the case notes) and prescriptions
marked shared. Every read is audited as a clinical read by the patient. The sign-in email
cannot be changed here (it is the login identity; the clinic changes it). The request owns
the transaction; refusals are domain errors answered app-wide.
"""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from saas import db
from saas.exceptions import NotFound
from saas.patients import require_patient_bearer
from saas.records import consents as consent_svc
from saas.records import queries, services
from saas.web import CLINIC, serve_on

from .schemas import (
    GiveConsentSchema,
    MyConsentSchema,
    ProfileSchema,
    SharedPrescriptionSchema,
    SharedVisitSchema,
)

blp = Blueprint(
    "patient_records_api",
    __name__,
    url_prefix="/api/v1/patients/me",
    description="The signed-in patient's profile, shared records and consents",
)
serve_on(blp, CLINIC)


@blp.route("/profile")
class Profile(MethodView):
    """My profile."""

    @blp.response(200, ProfileSchema)
    def get(self):
        """My contact details and preferences."""
        return queries.demographics(db.session, require_patient_bearer())

    @blp.arguments(ProfileSchema)
    @blp.response(200, ProfileSchema)
    def patch(self, data):
        """Change my contact details (only the fields sent; null clears)."""
        patient = require_patient_bearer()
        services.update_demographics(db.session, g.tenant, patient, data, actor=patient)
        return queries.demographics(db.session, patient)


@blp.route("/visits")
class MyVisits(MethodView):
    """Visit summaries the clinic shared with me."""

    @blp.response(200, SharedVisitSchema(many=True))
    def get(self):
        """Shared visit summaries, newest first."""
        return queries.shared_visits_for_patient(db.session, g.tenant, require_patient_bearer())


@blp.route("/prescriptions")
class MyPrescriptions(MethodView):
    """Prescriptions the clinic shared with me."""

    @blp.response(200, SharedPrescriptionSchema(many=True))
    def get(self):
        """Shared prescriptions, newest first."""
        patient = require_patient_bearer()
        return queries.shared_prescriptions_for_patient(db.session, g.tenant, patient)


@blp.route("/consents")
class MyConsents(MethodView):
    """My consents."""

    @blp.response(200, MyConsentSchema(many=True))
    def get(self):
        """Every consent I gave or withdrew."""
        return consent_svc.list_consents(db.session, g.tenant, require_patient_bearer())

    @blp.arguments(GiveConsentSchema)
    @blp.response(201, MyConsentSchema)
    def post(self, data):
        """Give a consent (e.g. reminders by email)."""
        patient = require_patient_bearer()
        return consent_svc.record_consent(
            db.session,
            g.tenant,
            patient,
            purpose=data["purpose"],
            text_version=data["text_version"],
            channel="portal",
            actor=patient,
        )


@blp.route("/consents/<purpose>/withdraw")
class MyConsentWithdraw(MethodView):
    """Withdrawal."""

    @blp.response(200, MyConsentSchema)
    def post(self, purpose: str):
        """Withdraw my consent for a purpose."""
        patient = require_patient_bearer()
        consent = consent_svc.standing_consent(db.session, g.tenant.id, patient.id, purpose)
        if consent is None:
            raise NotFound("You have no standing consent for this purpose.")
        return consent_svc.withdraw_consent(
            db.session, g.tenant, consent, channel="portal", actor=patient
        )
