"""Staff management verbs: invitations, roles, deactivation, a member's own security.

Invitations are sent, resent, revoked and accepted; a member changes their own password and
recovery codes.

Decisions: accepting an invitation as a practitioner makes the new member bookable (a
practitioner profile, linked or created: :func:`_bookable_profile`). Deactivating ends the
member's sessions (the session epoch) and API tokens at once; the last active owner can be
neither demoted nor deactivated, and nobody deactivates themselves. A withdrawn invitation
expires now (its row stays for the audit trail).
"""

from __future__ import annotations

import datetime as dt
import uuid

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update

from saas import audit, outbox
from saas.actors import Actor
from saas.exceptions import Conflict, Forbidden, Invalid, NotFound
from saas.models import ROLES, ApiToken, Invitation, Tenant, User, utcnow
from saas.scheduling.models import Practitioner
from saas.scheduling.practice import practitioners
from saas.security.auth import get_user_by_email_in_tenant, new_recovery_codes, new_totp_secret
from saas.security.passwords import hash_password, password_problem, verify_password
from saas.security.rbac import can
from saas.security.secrets import digest, new_token

INVITATION_TTL = dt.timedelta(days=7)


def list_staff_in_tenant(sess, tenant: Tenant) -> list[User]:
    """The clinic's staff, by name."""
    return list(sess.scalars(select(User).where(User.tenant_id == tenant.id).order_by(User.name)))


def list_open_invitations_in_tenant(sess, tenant: Tenant) -> list[Invitation]:
    """Invitations not yet accepted and not expired."""
    return list(
        sess.scalars(
            select(Invitation)
            .where(
                Invitation.tenant_id == tenant.id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > func.now(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def invite_staff(
    sess, tenant: Tenant, actor: User, *, email: str, name: str, role: str
) -> tuple[Invitation, str]:
    """Invite someone by email with a role; emails the link (outbox). Returns it and its token."""
    errors = {}
    try:
        email = validate_email(email or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        errors["email"] = str(exc)
    if role not in ROLES:
        errors["role"] = "Choose one of: " + ", ".join(ROLES) + "."
    elif role == "owner" and not can(actor.role, "staff.manage_owners"):
        errors["role"] = "Only an owner can invite another owner."
    if not (name or "").strip():
        errors["name"] = "Enter the person's name."
    if not errors and get_user_by_email_in_tenant(sess, tenant.id, email):
        errors["email"] = "This person already has an account at this clinic."
    if errors:
        raise (Conflict if "already" in errors.get("email", "") else Invalid)(errors)
    token = new_token()
    inv = Invitation(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=email,
        name=name.strip(),
        role=role,
        invited_by=actor.id,
        token_hash=digest(token),
        expires_at=utcnow() + INVITATION_TTL,
    )
    sess.add(inv)
    sess.flush()
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/invite/{token}")
    outbox.emit(
        sess,
        tenant.id,
        "email.invitation",
        {
            "to": email,
            "subject": f"You are invited to join {tenant.name} on Similia",
            "body": (
                f"Hello {inv.name},\n\n{actor.name} invited you to join {tenant.name} as "
                f"{role}.\nAccept within 7 days: {link}\n"
            ),
        },
    )
    audit.record(
        sess,
        tenant.id,
        "staff.invited",
        actor=actor,
        target=f"invitation:{inv.id}",
        data={"email": email, "role": role},
    )
    return inv, token


def get_invitation_by_token_in_tenant(sess, tenant: Tenant, token: str) -> Invitation | None:
    """An open invitation for this clinic, or None (unknown, used or expired)."""
    inv = sess.scalar(
        select(Invitation).where(
            Invitation.tenant_id == tenant.id, Invitation.token_hash == digest(token or "")
        )
    )
    if inv is None or inv.accepted_at is not None or inv.expires_at <= utcnow():
        return None
    return inv


def accept_invitation(sess, tenant: Tenant, token: str, password: str) -> tuple[User, str]:
    """Create the staff account from an invitation; returns it and its new TOTP secret."""
    inv = get_invitation_by_token_in_tenant(sess, tenant, token)
    if inv is None:
        raise NotFound({"token": "This invitation link is invalid or has expired."})
    if problem := password_problem(password or ""):
        raise Invalid({"password": problem})
    claimed = sess.execute(  # single use, even when the form is sent twice at once
        update(Invitation)
        .where(
            Invitation.tenant_id == tenant.id,
            Invitation.id == inv.id,
            Invitation.accepted_at.is_(None),
        )
        .values(accepted_at=utcnow())
        .returning(Invitation.id)
    ).first()
    if claimed is None:
        raise Conflict({"token": "This invitation was already accepted."})
    if get_user_by_email_in_tenant(sess, tenant.id, inv.email) is not None:
        raise Conflict({"token": "This person already has an account at this clinic."})
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=inv.email,
        name=inv.name,
        role=inv.role,
        password_hash=hash_password(password),
    )
    sess.add(user)
    sess.flush()
    secret = new_totp_secret(sess, tenant, user)
    audit.record(sess, tenant.id, "staff.joined", actor=user, data={"role": inv.role})
    if inv.role == "practitioner":
        _bookable_profile(sess, tenant, user)
    return user, secret


def _bookable_profile(sess, tenant: Tenant, user: User) -> Practitioner:
    """The practitioner profile a new practitioner joins with: linked, else created.

    An unlinked profile of exactly the same name (the clinic added them as a bookable-only
    person before inviting them) is linked to the new account and kept active, so their
    hours, visit types and bookings stay theirs; otherwise a new profile is made. Either
    way they appear at once in the weekly hours and visit type pages, with no extra
    "make bookable" step (which remains for members of other roles).
    """
    actor = Actor.for_staff(user)
    name = " ".join(user.name.split()).casefold()
    same_name = [
        p
        for p in sess.scalars(
            select(Practitioner).where(
                Practitioner.tenant_id == tenant.id, Practitioner.user_id.is_(None)
            )
        )
        if " ".join(p.display_name.split()).casefold() == name
    ]
    if len(same_name) == 1:
        return practitioners.update_practitioner(
            sess, tenant, actor, same_name[0], {"user_id": user.id, "is_active": True}
        )
    return practitioners.create_practitioner(
        sess, tenant, actor, {"display_name": user.name, "user_id": user.id}
    )


def change_role(sess, tenant: Tenant, actor: User, user: User, role: str) -> None:
    """Change a staff member's role; the last owner cannot be demoted."""
    if role not in ROLES:
        raise Invalid({"role": "Choose one of: " + ", ".join(ROLES) + "."})
    if "owner" in (role, user.role) and not can(actor.role, "staff.manage_owners"):
        raise Forbidden({"role": "Only an owner can grant or remove the owner role."})
    if user.role == "owner" and role != "owner":
        owners = sess.scalar(
            select(func.count()).where(User.tenant_id == tenant.id, User.role == "owner")
        )
        if owners <= 1:
            raise Conflict({"role": "A clinic needs at least one owner."})
    old, user.role = user.role, role
    user.session_epoch += 1
    audit.record(
        sess,
        tenant.id,
        "staff.role_changed",
        actor=actor,
        target=f"user:{user.id}",
        data={"from": old, "to": role},
    )


# -- invitations: resend, revoke ----------------------------------------------------------
def get_open_invitation_in_tenant(sess, tenant: Tenant, invitation_id) -> Invitation | None:
    """An invitation of this clinic that is still open (not accepted, not expired)."""
    inv = sess.scalar(
        select(Invitation).where(Invitation.tenant_id == tenant.id, Invitation.id == invitation_id)
    )
    if inv is None or inv.accepted_at is not None or inv.expires_at <= utcnow():
        return None
    return inv


def resend_invitation(sess, tenant: Tenant, actor: User, inv: Invitation) -> str:
    """Email a fresh link (the old one stops working) valid for another 7 days."""
    if inv.role == "owner" and not can(actor.role, "staff.manage_owners"):
        raise Forbidden({"role": "Only an owner can invite another owner."})
    token = new_token()
    inv.token_hash = digest(token)
    inv.expires_at = utcnow() + INVITATION_TTL
    sess.flush()
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/invite/{token}")
    outbox.emit(
        sess,
        tenant.id,
        "email.invitation",
        {
            "to": inv.email,
            "subject": f"Reminder: you are invited to join {tenant.name} on Similia",
            "body": (
                f"Hello {inv.name},\n\n{actor.name} invited you to join {tenant.name} as "
                f"{inv.role}.\nAccept within 7 days: {link}\n"
            ),
        },
    )
    audit.record(
        sess, tenant.id, "staff.invitation_resent", actor=actor, target=f"invitation:{inv.id}"
    )
    return token


def revoke_invitation(sess, tenant: Tenant, actor: User, inv: Invitation) -> None:
    """Withdraw an invitation: its link stops working at once."""
    if inv.role == "owner" and not can(actor.role, "staff.manage_owners"):
        raise Forbidden({"role": "Only an owner can withdraw an owner's invitation."})
    inv.expires_at = utcnow()
    sess.flush()
    audit.record(
        sess, tenant.id, "staff.invitation_revoked", actor=actor, target=f"invitation:{inv.id}"
    )


# -- deactivate, reactivate ---------------------------------------------------------------
def _end_access(sess, tenant: Tenant, user: User) -> None:
    """End every session (epoch) and API token of ``user`` now."""
    user.session_epoch += 1
    sess.execute(
        update(ApiToken)
        .where(
            ApiToken.tenant_id == tenant.id,
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )


def deactivate_staff(sess, tenant: Tenant, actor: User, user: User) -> None:
    """Stop ``user`` signing in; their sessions and API tokens end at once."""
    if user.id == actor.id:
        raise Conflict({"user": "You cannot deactivate your own account."})
    if user.role == "owner" and not can(actor.role, "staff.manage_owners"):
        raise Forbidden({"user": "Only an owner can deactivate an owner."})
    if user.role == "owner":
        owners = sess.scalar(
            select(func.count()).where(
                User.tenant_id == tenant.id, User.role == "owner", User.is_active.is_(True)
            )
        )
        if owners <= 1:
            raise Conflict({"user": "A clinic needs at least one active owner."})
    if not user.is_active:
        return
    user.is_active = False
    _end_access(sess, tenant, user)
    sess.flush()
    audit.record(sess, tenant.id, "staff.deactivated", actor=actor, target=f"user:{user.id}")


def reactivate_staff(sess, tenant: Tenant, actor: User, user: User) -> None:
    """Let ``user`` sign in again (with their password and authenticator)."""
    if user.role == "owner" and not can(actor.role, "staff.manage_owners"):
        raise Forbidden({"user": "Only an owner can reactivate an owner."})
    if user.is_active:
        return
    user.is_active = True
    sess.flush()
    audit.record(sess, tenant.id, "staff.reactivated", actor=actor, target=f"user:{user.id}")


# -- own security -------------------------------------------------------------------------
def change_own_password(sess, tenant: Tenant, user: User, current: str, new: str) -> None:
    """Change one's password: the current one is checked; other sessions and tokens end."""
    if not verify_password(user.password_hash, current or ""):
        raise Invalid({"current_password": "Your current password is not right."})
    if problem := password_problem(new or "", user_inputs=(user.email, user.name, tenant.name)):
        raise Invalid({"new_password": problem})
    user.password_hash = hash_password(new)
    _end_access(sess, tenant, user)
    sess.flush()
    audit.record(sess, tenant.id, "auth.password_changed", actor=user, target=f"user:{user.id}")


def regenerate_recovery_codes(sess, tenant: Tenant, user: User, password: str) -> list[str]:
    """New recovery codes (the old ones stop working); asks for the password again."""
    if not verify_password(user.password_hash, password or ""):
        raise Invalid({"password": "Your password is not right."})
    codes = new_recovery_codes(sess, user)
    audit.record(
        sess, tenant.id, "mfa.recovery_codes_regenerated", actor=user, target=f"user:{user.id}"
    )
    return codes
