"""Patient API on the clinic's host: register, verify email, sign in, who am I.

Refusals are domain errors from :mod:`saas.patients`, answered app-wide; the request owns
the transaction. A refused sign-in keeps its audit entry (:func:`saas.db.keep_on_error`).
"""

from __future__ import annotations

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from saas import db
from saas.apispec_names import public_operation
from saas.exceptions import Unauthenticated
from saas.extensions import limiter
from saas.patients import (
    SESSION_TTL,
    read_sealed,
    register_patient,
    require_patient_bearer,
    sign_in_patient,
    sign_out_patient,
    verify_email,
)
from saas.web import CLINIC, serve_on

from .account import EMAILS_PER_ADDRESS
from .schemas import (
    PatientLoginSchema,
    PatientSelfSchema,
    PatientTokenSchema,
    RegisterResultSchema,
    RegisterSchema,
    VerifySchema,
)

blp = Blueprint("patient_api", __name__, url_prefix="/api/v1/patients", description="Patients")
serve_on(blp, CLINIC)


@blp.route("/register")
class Register(MethodView):
    """Portal registration."""

    decorators = [limiter.limit("10/hour", methods=["POST"]), EMAILS_PER_ADDRESS]

    @public_operation
    @blp.arguments(RegisterSchema)
    @blp.response(202, RegisterResultSchema)
    def post(self, data):
        """Register as a patient of this clinic: a link to choose a password is emailed."""
        register_patient(db.session, g.tenant, **data)
        return {
            "status": "link_sent",
            "message": "Check your email: the link in it lets you choose your password.",
        }


@blp.route("/verify")
class Verify(MethodView):
    """Email verification."""

    @public_operation
    @blp.arguments(VerifySchema)
    @blp.response(200, PatientSelfSchema)
    def post(self, data):
        """Confirm the email and choose a password with the emailed token (single use)."""
        return _self(verify_email(db.session, g.tenant, data["token"], data["password"]))


@blp.route("/token")
class Token(MethodView):
    """Portal sign-in."""

    decorators = [limiter.limit("20/minute", methods=["POST"])]

    @public_operation
    @blp.arguments(PatientLoginSchema)
    @blp.response(201, PatientTokenSchema)
    def post(self, data):
        """Exchange email and password (and a two-step code when on) for a bearer token."""
        try:
            _, token = sign_in_patient(
                db.session,
                g.tenant,
                data["email"],
                data["password"],
                request.remote_addr,
                code=data.get("code"),
            )
        except Unauthenticated:
            db.keep_on_error()  # the audit entry of the refused attempt stays
            raise
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(SESSION_TTL.total_seconds()),
        }

    @blp.response(204)
    def delete(self):
        """Sign out: revoke the bearer token used for this request."""
        patient = require_patient_bearer()
        sign_out_patient(db.session, g.tenant, patient, g.patient_token)


@blp.route("/me")
class Me(MethodView):
    """The signed-in patient."""

    @blp.response(200, PatientSelfSchema)
    def get(self):
        """Who am I (patient token)."""
        return _self(require_patient_bearer())


def _self(patient):
    return {
        "id": patient.id,
        "full_name": patient.full_name,
        "email": read_sealed(db.session, patient, "email"),
        "email_verified": patient.email_verified_at is not None,
    }
