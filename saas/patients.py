"""Patients: the shared verbs every feature uses (portal registration, staff, booking).

Sealed fields are written and read only through :func:`set_sealed` / :func:`read_sealed`,
so the database never holds their plaintext. Patient portal tokens start with ``simp_``.
Refusals are :mod:`saas.exceptions` errors (``Invalid``, ``Conflict``, ``Unauthenticated``...).

Decisions:

- the audit log names a patient only as ``patient:<id>`` (it outlives erasure), never by
  email; a failed portal sign-in is audited (``patient.sign_in_failed``) with the patient's
  id when the email belongs to one, else with ``-``, and the view keeps that entry although
  it answers 401;
- a patient acting on the portal is audited as a ``patient`` actor (their own id).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from email_validator import EmailNotValidError, validate_email
from flask import current_app, g, request
from flask_babel import gettext
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from . import audit, languages, outbox
from .exceptions import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from .fields import blind_index, open_field, seal_field
from .models import SEALED_PATIENT_FIELDS, Patient, PatientToken, Tenant, utcnow
from .security.passwords import dummy_hash, hash_password, password_problem, verify_password
from .security.secrets import digest, new_token

VERIFY_TTL = dt.timedelta(days=2)
SESSION_TTL = dt.timedelta(days=7)
TOKEN_PREFIX = "simp_"


def normalise_email(email: str) -> str:
    """Validated, lower-case email; raises :class:`~saas.exceptions.Invalid`."""
    try:
        return validate_email(email or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid({"email": str(exc)}) from exc


def set_sealed(
    sess: Session, tenant: Tenant, patient: Patient, field: str, value: str | None
) -> None:
    """Seal one contact field of ``patient`` (None clears it)."""
    if field not in SEALED_PATIENT_FIELDS:
        raise KeyError(field)
    sealed = (
        None if value is None else seal_field(sess, tenant, "patients", field, patient.id, value)
    )
    setattr(patient, field, sealed)
    if field == "email":
        patient.email_index = (
            None if value is None else blind_index(sess, tenant.id, "email", value)
        )


def read_sealed(sess: Session, patient: Patient, field: str) -> str | None:
    """Open one sealed field of ``patient``."""
    blob = getattr(patient, field)
    if blob is None:
        return None
    return open_field(sess, patient.tenant_id, "patients", field, patient.id, blob)


def get_patient_in_tenant(sess: Session, tenant: Tenant, patient_id) -> Patient | None:
    """The clinic's patient with this id (None for missing and for another clinic's)."""
    return sess.scalar(
        select(Patient).where(Patient.tenant_id == tenant.id, Patient.id == patient_id)
    )


def get_patient_by_email_in_tenant(sess: Session, tenant: Tenant, email: str) -> Patient | None:
    """Exact email lookup through the blind index (no decryption)."""
    index = blind_index(sess, tenant.id, "email", email)
    return sess.scalar(
        select(Patient).where(Patient.tenant_id == tenant.id, Patient.email_index == index)
    )


def create_patient(
    sess: Session, tenant: Tenant, *, full_name: str, email: str | None = None, actor=None, **sealed
) -> Patient:
    """Create a patient record (staff, or registration); contact fields are sealed."""
    if not (full_name or "").strip():
        raise Invalid({"full_name": "Enter the patient's name."})
    if email:
        email = normalise_email(email)
        if get_patient_by_email_in_tenant(sess, tenant, email) is not None:
            raise Conflict({"email": "A patient with this email already exists."})
    patient = Patient(id=uuid.uuid4(), tenant_id=tenant.id, full_name=full_name.strip())
    sess.add(patient)
    if email:
        set_sealed(sess, tenant, patient, "email", email)
    for field, value in sealed.items():
        set_sealed(sess, tenant, patient, field, value)
    sess.flush()
    audit.record(sess, tenant.id, "patient.created", actor=actor, target=f"patient:{patient.id}")
    return patient


def register_patient(
    sess: Session,
    tenant: Tenant,
    *,
    full_name: str,
    email: str,
    language: str | None = None,
) -> None:
    """Portal self-registration, email first: email a single-use link to choose a password.

    The password is chosen only through the emailed link (:func:`verify_email`), so nobody can
    register someone else's address with a password of their own and wait for the real owner
    to click "confirm". The caller answers the same whether or not the email is known (no
    oracle for who is a patient of the clinic): for an existing account the link simply lets
    its owner choose a new password. A record staff created earlier is claimed, history kept.
    ``language`` is the portal's language at the time (it becomes the patient's
    ``preferred_language``); the email is written in the patient's language.
    """
    email = normalise_email(email)
    patient = get_patient_by_email_in_tenant(sess, tenant, email)
    if patient is None:
        patient = create_patient(sess, tenant, full_name=full_name, email=email, actor=None)
    if patient.status != "active":
        return
    if languages.supported(language):
        patient.preferred_language = languages.supported(language)
    token = _issue(sess, patient, "verify", VERIFY_TTL)
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/verify-email?token={token}")
    with languages.force_locale(languages.patient_language(tenant, patient)):
        subject = gettext("Choose your password for %(clinic)s", clinic=tenant.name)
        body = gettext(
            "Hello %(name)s,\n\nUse this link within two days to confirm your email and "
            "choose your password for online booking:\n%(link)s\n\n"
            "If you did not ask for this, ignore this email; nothing changes.",
            name=patient.full_name,
            link=link,
        )
    outbox.emit(
        sess, tenant.id, "email.verify_patient", {"to": email, "subject": subject, "body": body}
    )
    # the audit log is append-only and outlives erasure: no email in it, only the id
    audit.record(
        sess,
        tenant.id,
        "patient.registration_link_sent",
        actor=patient,
        target=f"patient:{patient.id}",
    )


def _issue(sess: Session, patient: Patient, purpose: str, ttl: dt.timedelta) -> str:
    plain = TOKEN_PREFIX + new_token()
    sess.add(
        PatientToken(
            id=uuid.uuid4(),
            tenant_id=patient.tenant_id,
            patient_id=patient.id,
            purpose=purpose,
            token_hash=digest(plain),
            expires_at=utcnow() + ttl,
        )
    )
    sess.flush()
    return plain


def verify_email(sess: Session, tenant: Tenant, token: str, password: str) -> Patient:
    """Consume an emailed link (single use): confirm the email and set the password.

    Any portal sessions from before are revoked (the link doubles as a password reset).
    A weak password is :class:`~saas.exceptions.Invalid` without using up the link; an
    unknown, used or expired link is :class:`~saas.exceptions.NotFound`.
    """
    if problem := password_problem(password or ""):
        raise Invalid({"password": problem})
    now = utcnow()
    row = sess.execute(
        update(PatientToken)
        .where(
            PatientToken.tenant_id == tenant.id,
            PatientToken.token_hash == digest(token or ""),
            PatientToken.purpose == "verify",
            PatientToken.revoked_at.is_(None),
            PatientToken.expires_at > now,
        )
        .values(revoked_at=now)
        .returning(PatientToken.patient_id)
    ).first()
    if row is None:
        raise NotFound("This link is invalid, used or expired.", errors={"token": "invalid"})
    patient = get_patient_in_tenant(sess, tenant, row[0])
    patient.password_hash = hash_password(password)
    patient.email_verified_at = patient.email_verified_at or now
    sess.execute(
        update(PatientToken)
        .where(
            PatientToken.tenant_id == tenant.id,
            PatientToken.patient_id == patient.id,
            PatientToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    audit.record(
        sess, tenant.id, "patient.email_verified", actor=patient, target=f"patient:{patient.id}"
    )
    return patient


def check_patient_password(
    sess: Session, tenant: Tenant, email: str, password: str, ip: str | None = None
) -> Patient:
    """The first factor of a portal sign-in: the patient whose email and password these are.

    Any failure is the same :class:`~saas.exceptions.Unauthenticated` (no oracle for who is
    a patient), audited as ``patient.sign_in_failed``; the caller keeps that entry.
    Patients get the staff lockout (:func:`saas.security.auth.claim_attempt`): 5 failures
    per account or 15 per address lock for a fixed window, with the same message whether
    the account exists or not. An unconfirmed email is :class:`~saas.exceptions.Forbidden`.
    """
    from .security.auth import LOCKED, claim_attempt, release_attempt

    key = (email or "").strip().lower()
    if not claim_attempt(tenant.id, key, ip, realm="patient"):
        audit.record(sess, tenant.id, "patient.sign_in_locked", actor_label="-")
        raise Unauthenticated({"email": LOCKED}, reason="locked")
    try:
        patient = get_patient_by_email_in_tenant(sess, tenant, normalise_email(email))
    except Invalid:
        patient = None
    ok = verify_password(
        patient.password_hash if patient and patient.password_hash else dummy_hash(), password or ""
    )
    if not (patient and patient.password_hash and ok and patient.status == "active"):
        audit.record(
            sess,
            tenant.id,
            "patient.sign_in_failed",
            actor_label=f"patient:{patient.id}" if patient else "-",
        )
        raise Unauthenticated({"email": "Email or password is incorrect."})
    release_attempt(tenant.id, key, ip, realm="patient")
    if patient.email_verified_at is None:
        raise Forbidden({"email": "Confirm your email first: we sent you a link."})
    return patient


def open_patient_session(
    sess: Session, tenant: Tenant, patient: Patient, *, data: dict | None = None
) -> str:
    """Issue a portal session token once every factor is checked; audited ``patient.sign_in``.

    Clears the account's failed password attempts (the lockout counts failures only).
    """
    from .security.auth import clear_failures

    email = read_sealed(sess, patient, "email")
    if email:
        clear_failures(tenant.id, email, realm="patient")
    token = _issue(sess, patient, "session", SESSION_TTL)
    audit.record(sess, tenant.id, "patient.sign_in", actor=patient, data=data)
    return token


def sign_in_patient(
    sess: Session,
    tenant: Tenant,
    email: str,
    password: str,
    ip: str | None = None,
    code: str | None = None,
) -> tuple[Patient, str]:
    """Portal sign-in in one call (the API): returns the patient and a bearer token.

    The password is checked by :func:`check_patient_password`. A patient who turned on
    two-step sign-in must also send ``code`` (from the authenticator app, or a recovery
    code), checked by :func:`saas.security.patient_totp.check_code`; without one the refusal
    is :class:`~saas.exceptions.Unauthenticated` with reason ``code_required``.
    """
    from .security import patient_totp

    patient = check_patient_password(sess, tenant, email, password, ip)
    data = None
    if patient_totp.is_on(patient):
        if not (code or "").strip():
            raise Unauthenticated({"code": patient_totp.CODE_REQUIRED}, reason="code_required")
        data = {"second_factor": patient_totp.check_code(sess, tenant, patient, code, ip)}
    return patient, open_patient_session(sess, tenant, patient, data=data)


@functools.cache
def _session_token():
    """The session token with its patient, by clinic and hash.

    Built once: every API call of a signed-in patient runs it, and building the statement
    cost more than running it.
    """
    return (
        select(PatientToken, Patient)
        .join(
            Patient,
            (Patient.tenant_id == PatientToken.tenant_id) & (Patient.id == PatientToken.patient_id),
        )
        .where(
            PatientToken.tenant_id == bindparam("tid"),
            PatientToken.token_hash == bindparam("hash"),
            PatientToken.purpose == "session",
        )
    )


def authenticate_patient_bearer() -> Patient | None:
    """Set ``g.patient`` from a ``simp_`` bearer token on this clinic's host, or None."""
    if "patient" in g:
        return g.patient
    g.patient = None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    tenant = g.get("tenant")
    if scheme.lower() != "bearer" or not value.startswith(TOKEN_PREFIX) or tenant is None:
        return None
    from . import db

    row = db.session.execute(_session_token(), {"tid": tenant.id, "hash": digest(value)}).first()
    if row is None or row[0].revoked_at is not None or row[0].expires_at <= utcnow():
        raise Unauthenticated("The bearer token is invalid or expired.")
    if row[1].status != "active":
        raise Unauthenticated("This account is closed.")
    g.patient, g.patient_token = row[1], row[0]
    return row[1]


def sign_out_patient(sess: Session, tenant: Tenant, patient: Patient, token: PatientToken) -> None:
    """Revoke the portal token the request was made with (the patient signs out)."""
    token.revoked_at = utcnow()
    audit.record(sess, tenant.id, "patient.sign_out", actor=patient)
    sess.flush()


def require_patient_bearer() -> Patient:
    """The patient of this request's ``simp_`` bearer token; Unauthenticated without one."""
    patient = authenticate_patient_bearer()
    if patient is None:
        raise Unauthenticated("Sign in: send a valid patient bearer token.")
    return patient
