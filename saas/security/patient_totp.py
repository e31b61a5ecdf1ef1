"""Optional two-step sign-in for patients: a code from an authenticator app (TOTP).

Decisions:

- Off by default. A patient turns it on from the portal profile: :func:`start_setup` makes a
  secret, sealed in ``patients.totp_secret`` with the clinic's data key (like the patient's
  other secrets, bound to the row), shown once as a QR code and as text; only
  :func:`confirm_setup` with a first code from the app turns it on, and gives ten recovery
  codes, shown once and stored as SHA-256 digests (``patient_recovery_codes``).
- While it is on, every way to open a portal session asks for a code after the first
  factor: the password (page and API), a one-time sign-in link, and the emailed link that
  sets a password (which would otherwise go round it).
- A TOTP code is accepted once: the last accepted time step moves forward with one
  conditional UPDATE (as for staff, :func:`saas.security.auth.verify_totp`). A recovery code
  is used up by a conditional UPDATE too.
- Wrong codes count toward a lockout of their own (:func:`saas.security.auth.claim_attempt`,
  realm ``patient-code``, per patient and per address: the same limits as passwords), so
  a stolen password or sign-in link does not allow unlimited guessing.
- Turning it off (:func:`disable`) asks for a current code or a recovery code, and deletes
  the secret and the recovery codes. ``patient.totp_enabled`` and ``patient.totp_disabled``
  are audited, as is every failed code (``patient.totp_failed``).
- Staff cannot turn it off for a patient here; a patient who lost both the phone and the
  recovery codes asks the clinic, whose erasure or a later console action decides (not built).
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from .. import audit
from ..exceptions import Invalid, Unauthenticated
from ..fields import open_field, seal_field
from ..models import Patient, PatientRecoveryCode, Tenant, utcnow
from . import totp
from .secrets import digest

#: Refusal texts (the portal shows its own translated wording; the API answers these).
CODE_REQUIRED = "Enter the code from your authenticator app."
BAD_CODE = "That code did not work. Codes change every 30 seconds; use the current one."
LOCKED = "Too many wrong codes. Wait 15 minutes and try again."
REALM = "patient-code"


def is_on(patient: Patient) -> bool:
    """Whether the patient's sign-ins ask for a code."""
    return patient.totp_enabled_at is not None and patient.totp_secret is not None


def _secret(sess: Session, patient: Patient) -> str:
    return open_field(
        sess, patient.tenant_id, "patients", "totp_secret", patient.id, patient.totp_secret
    )


def start_setup(sess: Session, tenant: Tenant, patient: Patient) -> str:
    """Make a new secret for the patient to scan (two-step stays off until confirmed)."""
    if is_on(patient):
        raise Invalid({"code": "Two-step sign-in is already on."})
    secret = totp.new_secret()
    patient.totp_secret = seal_field(sess, tenant, "patients", "totp_secret", patient.id, secret)
    patient.totp_enabled_at = None
    patient.totp_last_step = 0
    sess.flush()
    return secret


def pending_secret(sess: Session, patient: Patient) -> str | None:
    """The secret being set up (None when nothing is being set up, or it is already on)."""
    if patient.totp_secret is None or is_on(patient):
        return None
    return _secret(sess, patient)


def setup_uri(secret: str, tenant: Tenant, account_name: str) -> str:
    """``otpauth://`` URI naming the clinic, so the app lists it under the clinic's name."""
    return totp.provisioning_uri(secret, name=account_name, issuer=tenant.name)


def _claim_step(sess: Session, patient: Patient, code: str) -> bool:
    if patient.totp_secret is None:
        return False
    step = totp.matching_step(_secret(sess, patient), code, at=utcnow())
    if step is None:
        return False
    claimed = sess.execute(
        update(Patient)
        .where(
            Patient.tenant_id == patient.tenant_id,
            Patient.id == patient.id,
            Patient.totp_last_step < step,
        )
        .values(totp_last_step=step)
        .returning(Patient.id)
    ).first()
    return claimed is not None


def _use_recovery_code(sess: Session, patient: Patient, code: str) -> bool:
    code = (code or "").strip().lower()
    if not totp.looks_like_recovery_code(code):
        return False
    used = sess.execute(
        update(PatientRecoveryCode)
        .where(
            PatientRecoveryCode.tenant_id == patient.tenant_id,
            PatientRecoveryCode.patient_id == patient.id,
            PatientRecoveryCode.code_hash == digest(code),
            PatientRecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .returning(PatientRecoveryCode.id)
    ).first()
    return used is not None


def _new_recovery_codes(sess: Session, patient: Patient) -> list[str]:
    sess.execute(
        delete(PatientRecoveryCode).where(
            PatientRecoveryCode.tenant_id == patient.tenant_id,
            PatientRecoveryCode.patient_id == patient.id,
        )
    )
    codes = [totp.new_recovery_code() for _ in range(totp.RECOVERY_CODES)]
    sess.add_all(
        PatientRecoveryCode(
            id=uuid.uuid4(),
            tenant_id=patient.tenant_id,
            patient_id=patient.id,
            code_hash=digest(code),
        )
        for code in codes
    )
    sess.flush()
    return codes


def confirm_setup(sess: Session, tenant: Tenant, patient: Patient, code: str) -> list[str]:
    """Turn two-step sign-in on with a first code from the app; the recovery codes, once.

    A wrong code is :class:`~saas.exceptions.Invalid` (``code``) and changes nothing.
    """
    if patient.totp_secret is None or is_on(patient):
        raise Invalid({"code": "Start the set-up again from your profile."})
    if not _claim_step(sess, patient, code):
        raise Invalid({"code": BAD_CODE})
    patient.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(sess, patient)
    audit.record(
        sess, tenant.id, "patient.totp_enabled", actor=patient, target=f"patient:{patient.id}"
    )
    return codes


def check_code(sess: Session, tenant: Tenant, patient: Patient, code: str, ip: str | None) -> str:
    """The second factor: a current TOTP code or an unused recovery code.

    Returns how the patient passed (``totp`` or ``recovery_code``). A wrong code is
    :class:`~saas.exceptions.Unauthenticated` (``code``), audited ``patient.totp_failed``
    (the caller keeps the entry); past the lockout's limit every code is refused with
    reason ``locked`` until the window ends.
    """
    from .auth import claim_attempt, clear_failures, release_attempt

    key = str(patient.id)
    if not claim_attempt(tenant.id, key, ip, realm=REALM):
        audit.record(sess, tenant.id, "patient.totp_locked", actor=patient, data={"ip": ip})
        raise Unauthenticated({"code": LOCKED}, reason="locked")
    via = None
    if is_on(patient):
        if totp.looks_like_totp(code) and _claim_step(sess, patient, code):
            via = "totp"
        elif _use_recovery_code(sess, patient, code):
            via = "recovery_code"
    if via is None:
        audit.record(sess, tenant.id, "patient.totp_failed", actor=patient)
        raise Unauthenticated({"code": BAD_CODE}, reason="bad_code")
    release_attempt(tenant.id, key, ip, realm=REALM)
    clear_failures(tenant.id, key, realm=REALM)
    return via


def disable(sess: Session, tenant: Tenant, patient: Patient, code: str, ip: str | None) -> None:
    """Turn two-step sign-in off with a current code (or a recovery code).

    The secret and every recovery code are deleted. A wrong code is refused as in
    :func:`check_code` and changes nothing.
    """
    if not is_on(patient):
        raise Invalid({"code": "Two-step sign-in is already off."})
    via = check_code(sess, tenant, patient, code, ip)
    patient.totp_secret = None
    patient.totp_enabled_at = None
    patient.totp_last_step = 0
    sess.execute(
        delete(PatientRecoveryCode).where(
            PatientRecoveryCode.tenant_id == patient.tenant_id,
            PatientRecoveryCode.patient_id == patient.id,
        )
    )
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "patient.totp_disabled",
        actor=patient,
        target=f"patient:{patient.id}",
        data={"confirmed_with": via},
    )


def forget(sess: Session, patient: Patient) -> int:
    """Erasure: drop the secret and the recovery codes (no audit: the erasure is audited)."""
    patient.totp_secret = None
    patient.totp_enabled_at = None
    patient.totp_last_step = 0
    return (
        sess.execute(
            delete(PatientRecoveryCode).where(
                PatientRecoveryCode.tenant_id == patient.tenant_id,
                PatientRecoveryCode.patient_id == patient.id,
            )
        ).rowcount
        or 0
    )
