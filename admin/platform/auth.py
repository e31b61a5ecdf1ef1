"""Operator accounts: creation, password + mandatory TOTP, one use per code.

Decisions:

- Passwords use the staff hashing and strength rule (:mod:`saas.security.passwords`); a
  failed attempt costs the same time whether the address exists or not.
- The TOTP secret is sealed with the **platform's** operator key (AES-256-GCM under a key
  derived with HKDF from ``SECRET_KEY``, associated data naming the row), never with a
  clinic key: the operator console holds no token that can use clinic keys.
- There is no signup and no enrolment page: ``saas operators create`` prints the secret
  (and its ``otpauth://`` URI) once, so TOTP is on from the first sign-in.
- Failures are counted per address and per client address like staff sign-ins
  (``realm="operator"``), and every attempt lands in the platform audit log.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import uuid

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from saas.actors import Actor
from saas.exceptions import Invalid
from saas.models import OPERATOR_ROLES, Operator, utcnow
from saas.security import auth as staff_auth
from saas.security.passwords import dummy_hash, hash_password, password_problem, verify_password

from . import audit

PLATFORM = "platform"  #: the "clinic" of the operators' failure counters
_FORMAT = b"\x01"


def _key() -> bytes:
    secret = current_app.config["SIMILIA"].secret_key.encode()
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"similia operator totp"
    ).derive(secret)


def seal_secret(operator_id: uuid.UUID, secret: str) -> str:
    """Seal a TOTP secret for ``operators.totp_secret``: base64(format, nonce, ciphertext)."""
    nonce = os.urandom(12)
    aad = f"operators|totp_secret|{operator_id}".encode()
    blob = _FORMAT + nonce + AESGCM(_key()).encrypt(nonce, secret.encode(), aad)
    return base64.b64encode(blob).decode()


def open_secret(operator: Operator) -> str:
    """The operator's TOTP secret."""
    blob = base64.b64decode(operator.totp_secret)
    if blob[:1] != _FORMAT:
        raise ValueError("unknown sealed format")
    aad = f"operators|totp_secret|{operator.id}".encode()
    return AESGCM(_key()).decrypt(blob[1:13], blob[13:], aad).decode()


def get_operator_by_email(sess: Session, email: str) -> Operator | None:
    """The operator with this address (case-insensitive)."""
    return sess.scalar(select(Operator).where(Operator.email == (email or "").strip().lower()))


def create_operator(
    sess: Session, email: str, name: str, role: str, password: str
) -> tuple[Operator, str]:
    """Create an operator; returns it and its TOTP secret (shown once)."""
    email = (email or "").strip().lower()
    if role not in OPERATOR_ROLES:
        raise Invalid({"role": f"Role must be one of {', '.join(OPERATOR_ROLES)}."})
    if "@" not in email or len(email) > 254:
        raise Invalid({"email": "Enter an email address."})
    if get_operator_by_email(sess, email) is not None:
        raise Invalid({"email": "An operator with this email exists already."})
    problem = password_problem(password, (email, name))
    if problem:
        raise Invalid({"password": problem})
    secret = pyotp.random_base32()
    op = Operator(id=uuid.uuid4(), email=email, name=name.strip(), role=role)
    op.password_hash = hash_password(password)
    op.totp_secret = seal_secret(op.id, secret)
    op.totp_last_step = 0
    op.is_active = True
    op.session_epoch = 0
    sess.add(op)
    sess.flush()
    audit.record(
        sess,
        "operator.created",
        actor=Actor.system("operators create"),
        target=f"operator:{op.id}",
        data={"email": email, "role": role},
    )
    return op, secret


def provisioning_uri(secret: str, operator: Operator) -> str:
    """``otpauth://`` URI for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=operator.email, issuer_name="Similia Ops")


class OperatorAuthError(staff_auth.AuthError):
    """Sign-in refused; the message is the same for every cause."""


def authenticate(sess: Session, email: str, password: str, ip: str | None) -> Operator:
    """First factor; raises :class:`OperatorAuthError` with a generic message."""
    email = (email or "").strip().lower()
    who = Actor.anonymous(email or "-")
    if not staff_auth.claim_attempt(PLATFORM, email, ip, realm="operator"):
        audit.record(sess, "operator.locked", actor=who, data={"ip": ip})
        raise OperatorAuthError(staff_auth.LOCKED)
    op = get_operator_by_email(sess, email)
    ok = verify_password(op.password_hash if op else dummy_hash(), password or "")
    if not (op and ok and op.is_active):
        audit.record(sess, "operator.sign_in_failed", actor=who)
        raise OperatorAuthError(staff_auth.GENERIC_FAILURE)
    staff_auth.release_attempt(PLATFORM, email, ip, realm="operator")
    return op


def verify_code(sess: Session, op: Operator, code: str, *, at: dt.datetime | None = None) -> bool:
    """Accept a TOTP code once: only for a time step later than the last accepted one."""
    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(open_secret(op))
    step_now = int((at or utcnow()).timestamp()) // totp.interval
    for step in (step_now, step_now - 1, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            claimed = sess.execute(
                update(Operator)
                .where(Operator.id == op.id, Operator.totp_last_step < step)
                .values(totp_last_step=step)
                .returning(Operator.id)
            ).first()
            return claimed is not None
    return False


def second_factor(sess: Session, op: Operator, code: str, ip: str | None) -> bool:
    """Check the TOTP code (counted toward the lockout); audit the outcome."""
    actor = Actor.for_operator(op.id, op.email)
    if not staff_auth.claim_attempt(PLATFORM, op.email, ip, realm="operator"):
        audit.record(sess, "operator.locked", actor=actor, data={"ip": ip})
        return False
    if not verify_code(sess, op, code):
        audit.record(sess, "operator.mfa_failed", actor=actor)
        return False
    staff_auth.release_attempt(PLATFORM, op.email, ip, realm="operator")
    staff_auth.clear_failures(PLATFORM, op.email, realm="operator")
    op.last_login_at = utcnow()
    audit.record(sess, "operator.signed_in", actor=actor)
    return True
