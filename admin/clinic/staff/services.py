"""Staff management verbs: invite, accept an invitation, change a role."""

from __future__ import annotations

import datetime as dt
import uuid

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update

from saas import audit, outbox
from saas.exceptions import Conflict, Forbidden, Invalid, NotFound
from saas.models import ROLES, Invitation, Tenant, User, utcnow
from saas.security.auth import get_user_by_email_in_tenant, new_totp_secret
from saas.security.passwords import hash_password, password_problem
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
    return user, secret


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
