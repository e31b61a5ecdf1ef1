"""Patient API on the clinic's host: register, verify email, sign in, who am I."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from saas import db
from saas.extensions import limiter
from saas.patients import (
    SESSION_TTL,
    PatientError,
    authenticate_patient_bearer,
    read_sealed,
    register_patient,
    sign_in_patient,
    verify_email,
)

from .schemas import (
    PatientLoginSchema,
    PatientSelfSchema,
    PatientTokenSchema,
    RegisterResultSchema,
    RegisterSchema,
    VerifySchema,
)

blp = Blueprint("patient_api", __name__, url_prefix="/api/v1/patients", description="Patients")


def _refuse(exc: PatientError):
    db.session.rollback()
    abort(exc.status, message=str(exc), errors={"json": exc.errors})


@blp.route("/register")
class Register(MethodView):
    """Portal registration."""

    decorators = [limiter.limit("10/hour", methods=["POST"])]

    @blp.arguments(RegisterSchema)
    @blp.response(202, RegisterResultSchema)
    def post(self, data):
        """Register as a patient of this clinic: a link to choose a password is emailed."""
        try:
            register_patient(db.session, g.tenant, **data)
        except PatientError as exc:
            _refuse(exc)
        db.session.commit()
        return {
            "status": "link_sent",
            "message": "Check your email: the link in it lets you choose your password.",
        }


@blp.route("/verify")
class Verify(MethodView):
    """Email verification."""

    @blp.arguments(VerifySchema)
    @blp.response(200, PatientSelfSchema)
    def post(self, data):
        """Confirm the email and choose a password with the emailed token (single use)."""
        try:
            patient = verify_email(db.session, g.tenant, data["token"], data["password"])
        except PatientError as exc:
            _refuse(exc)
        if patient is None:
            abort(
                404,
                message="This link is invalid, used or expired.",
                errors={"json": {"token": ["invalid"]}},
            )
        db.session.commit()
        return _self(patient)


@blp.route("/token")
class Token(MethodView):
    """Portal sign-in."""

    decorators = [limiter.limit("20/minute", methods=["POST"])]

    @blp.arguments(PatientLoginSchema)
    @blp.response(201, PatientTokenSchema)
    def post(self, data):
        """Exchange email and password for a portal bearer token."""
        try:
            _, token = sign_in_patient(db.session, g.tenant, data["email"], data["password"])
        except PatientError as exc:
            db.session.commit() if exc.status == 401 else None
            abort(exc.status, message=str(exc), errors={"json": exc.errors})
        db.session.commit()
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(SESSION_TTL.total_seconds()),
        }


@blp.route("/me")
class Me(MethodView):
    """The signed-in patient."""

    @blp.response(200, PatientSelfSchema)
    def get(self):
        """Who am I (patient token)."""
        patient = authenticate_patient_bearer()
        if patient is None:
            abort(401, message="Sign in: send a valid patient bearer token.")
        return _self(patient)


def _self(patient):
    return {
        "id": patient.id,
        "full_name": patient.full_name,
        "email": read_sealed(db.session, patient, "email"),
        "email_verified": patient.email_verified_at is not None,
    }
