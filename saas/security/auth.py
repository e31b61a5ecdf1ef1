"""Staff authentication: password, lockout, TOTP MFA, recovery codes, password reset.

Lockout: attempts are counted in Redis per (clinic, email) and per (clinic, IP) *before*
the password is checked, within ``login_lock_seconds``; a full sign-in clears the account's
count. Past the limit every attempt is refused with the same lockout message, whether or not
the email exists (so it reveals nothing). A TOTP code is accepted once only: the
last accepted time step is advanced with one conditional UPDATE, so two requests carrying
the same code at the same moment cannot both succeed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from sqlalchemy import select, text, update

from .. import audit
from ..exceptions import Unauthenticated
from ..fields import open_field, seal_field
from ..models import ApiToken, PasswordReset, RecoveryCode, Tenant, User, utcnow
from . import totp
from .passwords import dummy_hash, hash_password, verify_password
from .secrets import digest, new_token

GENERIC_FAILURE = "Email or password is incorrect."
LOCKED = "Too many failed attempts. Wait 15 minutes or reset your password."
#: After a right password: the code is what failed (the page flow says the same).
BAD_CODE = "That sign-in code did not work. Codes change every 30 seconds; use the current one."
RESET_TTL = dt.timedelta(hours=1)
RECOVERY_CODES = totp.RECOVERY_CODES


class AuthError(Unauthenticated):
    """Authentication failed; ``str(exc)`` is safe to show (the same for every cause)."""


def _redis():
    return current_app.extensions["similia.redis"]


def _cfg():
    return current_app.config["SIMILIA"]


def _keys(tenant_id, email: str, ip: str | None, realm: str = "staff") -> tuple[str, str]:
    prefix = "authfail" if realm == "staff" else f"authfail-{realm}"
    return f"{prefix}:acct:{tenant_id}:{email}", f"{prefix}:ip:{tenant_id}:{ip or '-'}"


def claim_attempt(tenant_id, email: str, ip: str | None, *, realm: str = "staff") -> bool:
    """Count this attempt *before* checking the password; False when over the limit.

    ``realm`` keeps staff and patient counters apart (the same address may be both); the
    same limits apply to both. Counting first (one atomic INCR per key) means parallel
    guesses cannot all slip in between a check and an increment. A successful sign-in
    clears the account's counter. The lock window is fixed: it starts with the first
    counted attempt and no later attempt, not even a correct one, moves its end (so nobody
    can keep an account locked forever).
    """
    cfg = _cfg()
    acct, addr = _keys(tenant_id, email, ip, realm)
    pipe = _redis().pipeline()
    # a fixed window from the first failure: later attempts (right or wrong) never extend it
    pipe.set(acct, 0, ex=cfg.login_lock_seconds, nx=True)
    pipe.incr(acct)
    pipe.set(addr, 0, ex=cfg.login_lock_seconds, nx=True)
    pipe.incr(addr)
    _, n_acct, _, n_addr = pipe.execute()
    if n_acct <= cfg.login_max_failures and n_addr <= cfg.login_ip_max_failures:
        return True
    release_attempt(tenant_id, email, ip, realm=realm)  # refused: not checked, so not counted
    return False


def release_attempt(tenant_id, email: str, ip: str | None, *, realm: str = "staff") -> None:
    """Un-count an attempt that turned out right (only failures should add up)."""
    keys = _keys(tenant_id, email, ip, realm)
    pipe = _redis().pipeline()
    for key in keys:
        pipe.decr(key)
    left = pipe.execute()
    spent = [key for key, n in zip(keys, left, strict=True) if n <= 0]
    if spent:  # nothing counted (or the window lapsed meanwhile): no key without expiry
        _redis().delete(*spent)


def clear_failures(tenant_id, email: str, *, realm: str = "staff") -> None:
    """Forget the account's failures after a full sign-in."""
    _redis().delete(_keys(tenant_id, email, None, realm)[0])


def get_user_by_email_in_tenant(sess, tenant_id, email: str) -> User | None:
    """The clinic's staff user with this email (case-insensitive)."""
    return sess.scalar(
        select(User).where(User.tenant_id == tenant_id, User.email == email.strip().lower())
    )


def authenticate_password(sess, tenant: Tenant, email: str, password: str, ip: str | None) -> User:
    """First factor. Raises :class:`AuthError` with a generic message on any failure."""
    email = (email or "").strip().lower()
    if not claim_attempt(tenant.id, email, ip):
        audit.record(sess, tenant.id, "auth.locked", actor_label=email or "-", data={"ip": ip})
        raise AuthError(LOCKED)
    user = get_user_by_email_in_tenant(sess, tenant.id, email)
    ok = verify_password(user.password_hash if user else dummy_hash(), password or "")
    if not (user and ok and user.is_active):
        audit.record(sess, tenant.id, "auth.failure", actor_label=email or "-")
        raise AuthError(GENERIC_FAILURE)
    release_attempt(tenant.id, email, ip)
    return user


# -- TOTP --------------------------------------------------------------------------------
def new_totp_secret(sess, tenant: Tenant, user: User) -> str:
    """Create and store (sealed) a new TOTP secret; returns it for enrolment display."""
    secret = totp.new_secret()
    user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, secret)
    user.mfa_enrolled_at = None
    user.totp_last_step = 0
    return secret


def totp_secret(sess, user: User) -> str:
    """The user's TOTP secret (decrypted with the clinic's data key)."""
    return open_field(sess, user.tenant_id, "users", "totp_secret", user.id, user.totp_secret)


def provisioning_uri(secret: str, user: User, tenant: Tenant) -> str:
    """``otpauth://`` URI for authenticator apps."""
    return totp.provisioning_uri(secret, name=user.email, issuer=f"Similia {tenant.name}")


def verify_totp(sess, user: User, code: str, *, at: dt.datetime | None = None) -> bool:
    """Accept ``code`` once: only for a time step later than the last accepted one."""
    if user.totp_secret is None or not totp.looks_like_totp(code):
        return False
    step = totp.matching_step(totp_secret(sess, user), code, at=at or utcnow())
    if step is None:
        return False
    claimed = sess.execute(
        update(User)
        .where(
            User.tenant_id == user.tenant_id,
            User.id == user.id,
            User.totp_last_step < step,
        )
        .values(totp_last_step=step)
        .returning(User.id)
    ).first()
    return claimed is not None


def new_recovery_codes(sess, user: User) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once."""
    sess.execute(
        text("DELETE FROM recovery_codes WHERE tenant_id = :t AND user_id = :u"),
        {"t": user.tenant_id, "u": user.id},
    )
    codes = [totp.new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        sess.add(
            RecoveryCode(
                id=uuid.uuid4(), tenant_id=user.tenant_id, user_id=user.id, code_hash=digest(code)
            )
        )
    sess.flush()
    return codes


def use_recovery_code(sess, user: User, code: str) -> bool:
    """Consume one recovery code (single use, conditional update)."""
    code = (code or "").strip().lower()
    used = sess.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.tenant_id == user.tenant_id,
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .returning(RecoveryCode.id)
    ).first()
    return used is not None


def complete_enrolment(sess, tenant: Tenant, user: User, code: str) -> list[str] | None:
    """Confirm the authenticator with a first code; returns the recovery codes, or None."""
    if not verify_totp(sess, user, code):
        return None
    user.mfa_enrolled_at = utcnow()
    codes = new_recovery_codes(sess, user)
    audit.record(sess, tenant.id, "mfa.enrolled", actor=user, target=f"user:{user.id}")
    return codes


def second_factor(sess, tenant: Tenant, user: User, code: str, ip: str | None) -> bool:
    """Check a TOTP or recovery code; count failures toward the lockout."""
    if not claim_attempt(tenant.id, user.email, ip):
        audit.record(sess, tenant.id, "auth.locked", actor=user, data={"ip": ip})
        return False
    code = (code or "").strip()
    ok = verify_totp(sess, user, code) if code.replace(" ", "").isdigit() else False
    via = "totp"
    if not ok and "-" in code:
        ok, via = use_recovery_code(sess, user, code), "recovery_code"
    if not ok:
        audit.record(sess, tenant.id, "auth.mfa_failure", actor=user)
        return False
    release_attempt(tenant.id, user.email, ip)
    clear_failures(tenant.id, user.email)
    user.last_login_at = utcnow()
    audit.record(sess, tenant.id, "auth.sign_in", actor=user, data={"via": via})
    return True


# -- password reset ----------------------------------------------------------------------
def start_password_reset(sess, tenant: Tenant, email: str) -> str | None:
    """Create a reset link token if the account exists (the caller answers the same either way)."""
    user = get_user_by_email_in_tenant(sess, tenant.id, email)
    if user is None or not user.is_active:
        return None
    token = new_token()
    sess.add(
        PasswordReset(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            user_id=user.id,
            token_hash=digest(token),
            expires_at=utcnow() + RESET_TTL,
        )
    )
    audit.record(sess, tenant.id, "auth.reset_requested", actor=user)
    return token


def reset_is_valid(sess, tenant: Tenant, token: str) -> bool:
    """True while the link is unused and unexpired."""
    row = sess.scalar(
        select(PasswordReset).where(
            PasswordReset.tenant_id == tenant.id, PasswordReset.token_hash == digest(token or "")
        )
    )
    return bool(row and row.used_at is None and row.expires_at > utcnow())


def finish_password_reset(sess, tenant: Tenant, token: str, new_password: str) -> User | None:
    """Consume the link (single use) and set the new password; ends other sessions."""
    used = sess.execute(
        update(PasswordReset)
        .where(
            PasswordReset.tenant_id == tenant.id,
            PasswordReset.token_hash == digest(token or ""),
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > utcnow(),
        )
        .values(used_at=utcnow())
        .returning(PasswordReset.user_id)
    ).first()
    if used is None:
        return None
    user = sess.get(User, (tenant.id, used[0]))
    user.password_hash = hash_password(new_password)
    user.session_epoch += 1
    now = utcnow()
    # a reset ends every other way in: API tokens and the user's other reset links
    sess.execute(
        update(ApiToken)
        .where(
            ApiToken.tenant_id == tenant.id,
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    sess.execute(
        update(PasswordReset)
        .where(
            PasswordReset.tenant_id == tenant.id,
            PasswordReset.user_id == user.id,
            PasswordReset.used_at.is_(None),
        )
        .values(used_at=now)
    )
    clear_failures(tenant.id, user.email)
    audit.record(sess, tenant.id, "auth.password_reset", actor=user)
    return user
