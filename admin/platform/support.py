"""Operators helping a clinic: the consented support view, and help for a locked-out owner.

Decisions:

- The support view needs the owner's active grant (:mod:`tenants.support_access`), decided
  by the database clock; without one it is refused (403) and nothing of the clinic is read.
  The operator role can read only the state columns of ``outbox`` (migration 0025), never
  a message's payload or error text, whatever the grant.
- Each support visit is written to both audit logs (``support.viewed``): the clinic sees
  who looked and when.
- Owner help: resend an owner's open invitation (a new link, the old one stops working) or
  start a password reset for an active owner (a link valid for the usual reset time). Both
  email the owner through the outbox and are written to both audit logs. The link is only
  ever in the email, never shown to the operator.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from saas import audit as clinic_audit
from saas import outbox
from saas.db import bind_tenant
from saas.exceptions import Forbidden, NotFound
from saas.models import Invitation, OutboxMessage, PasswordReset, Tenant, User, utcnow
from saas.security.auth import RESET_TTL
from saas.security.secrets import digest, new_token
from tenants import support_access

from . import audit
from .services import actor_of, require

INVITATION_TTL = dt.timedelta(days=7)


@dataclass(frozen=True)
class SupportView:
    """What support sees of a clinic while its owner allows it: never clinical content."""

    until: dt.datetime
    staff: list
    message_counts: list
    messages: list


def support_view(sess: Session, operator, tenant: Tenant) -> SupportView:
    """The clinic's non-clinical console information; Forbidden without an active grant."""
    require(operator, "tenants.support")
    bind_tenant(sess, tenant.id)
    grant = support_access.active_grant(sess, tenant.id)
    if grant is None:
        raise Forbidden("The clinic's owner has not allowed support access (or it has ended).")
    staff = sess.execute(
        select(User.name, User.email, User.role, User.is_active)
        .where(User.tenant_id == tenant.id)
        .order_by(User.name)
    ).all()
    counts = sess.execute(
        select(OutboxMessage.topic, OutboxMessage.state, func.count())
        .where(OutboxMessage.tenant_id == tenant.id)
        .group_by(OutboxMessage.topic, OutboxMessage.state)
        .order_by(OutboxMessage.topic, OutboxMessage.state)
    ).all()
    latest = sess.execute(
        select(
            OutboxMessage.created_at,
            OutboxMessage.topic,
            OutboxMessage.state,
            OutboxMessage.attempts,
            OutboxMessage.skip_reason,
        )
        .where(OutboxMessage.tenant_id == tenant.id)
        .order_by(OutboxMessage.created_at.desc())
        .limit(50)
    ).all()
    data = {"grant": str(grant.id)}
    clinic_audit.record(
        sess,
        tenant.id,
        "support.viewed",
        actor=actor_of(operator),
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    audit.record(
        sess,
        "support.viewed",
        actor=actor_of(operator),
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    return SupportView(grant.expires_at, list(staff), list(counts), list(latest))


def support_until(sess: Session, tenant: Tenant) -> dt.datetime | None:
    """When the clinic's support access ends, or None (for the tenant page)."""
    bind_tenant(sess, tenant.id)
    grant = support_access.active_grant(sess, tenant.id)
    return grant.expires_at if grant else None


def owner_accounts(sess: Session, tenant: Tenant) -> list:
    """The clinic's active owners: (id, email, name)."""
    bind_tenant(sess, tenant.id)
    return list(
        sess.execute(
            select(User.id, User.email, User.name)
            .where(User.tenant_id == tenant.id, User.role == "owner", User.is_active.is_(True))
            .order_by(User.email)
        ).all()
    )


def open_owner_invitations(sess: Session, tenant: Tenant) -> list:
    """The clinic's open invitations for owners: (id, email, name, expires_at)."""
    bind_tenant(sess, tenant.id)
    return list(
        sess.execute(
            select(Invitation.id, Invitation.email, Invitation.name, Invitation.expires_at)
            .where(
                Invitation.tenant_id == tenant.id,
                Invitation.role == "owner",
                Invitation.accepted_at.is_(None),
            )
            .order_by(Invitation.email)
        ).all()
    )


def _both_logs(sess, operator, tenant: Tenant, action: str, target: str, data: dict) -> None:
    clinic_audit.record(sess, tenant.id, action, actor=actor_of(operator), target=target, data=data)
    audit.record(
        sess, action, actor=actor_of(operator), tenant_id=tenant.id, target=target, data=data
    )


def resend_owner_invitation(
    sess: Session, operator, tenant: Tenant, invitation_id: uuid.UUID
) -> str:
    """Email the owner a fresh invitation link valid 7 days; returns the address."""
    require(operator, "tenants.owner_help")
    rows = {r.id: r for r in open_owner_invitations(sess, tenant)}
    inv = rows.get(invitation_id)
    if inv is None:
        raise NotFound("No open owner invitation with that id at this clinic.")
    token = new_token()
    sess.execute(
        update(Invitation)
        .where(Invitation.tenant_id == tenant.id, Invitation.id == inv.id)
        .values(token_hash=digest(token), expires_at=utcnow() + INVITATION_TTL)
        .execution_options(synchronize_session=False)
    )
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/invite/{token}")
    outbox.emit(
        sess,
        tenant.id,
        "email.invitation",
        {
            "to": inv.email,
            "subject": f"Your invitation to {tenant.name} on Similia",
            "body": (
                f"Hello {inv.name},\n\nSimilia support sent you a new link to join "
                f"{tenant.name} as owner.\nAccept within 7 days: {link}\n"
            ),
        },
    )
    _both_logs(
        sess,
        operator,
        tenant,
        "support.owner_invitation_resent",
        f"invitation:{inv.id}",
        {"email": inv.email},
    )
    return inv.email


def start_owner_reset(sess: Session, operator, tenant: Tenant, user_id: uuid.UUID) -> str:
    """Email an active owner a password reset link; returns the address."""
    require(operator, "tenants.owner_help")
    bind_tenant(sess, tenant.id)
    owner = sess.execute(
        select(User.id, User.email, User.name).where(
            User.tenant_id == tenant.id,
            User.id == user_id,
            User.role == "owner",
            User.is_active.is_(True),
        )
    ).first()
    if owner is None:
        raise NotFound("No active owner with that id at this clinic.")
    token = new_token()
    sess.execute(
        insert(PasswordReset).values(
            tenant_id=tenant.id,
            id=uuid.uuid4(),
            user_id=owner.id,
            token_hash=digest(token),
            expires_at=utcnow() + RESET_TTL,
            created_at=utcnow(),
        )
    )
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/password/reset/{token}")
    outbox.emit(
        sess,
        tenant.id,
        "email.password_reset",
        {
            "to": owner.email,
            "subject": f"Reset your password for {tenant.name} on Similia",
            "body": (
                f"Hello {owner.name},\n\nSimilia support started a password reset for your "
                f"account at {tenant.name}, as you asked.\nChoose a new password: {link}\n\n"
                "If you did not ask for this, ignore this email and tell us.\n"
            ),
        },
    )
    _both_logs(sess, operator, tenant, "support.owner_reset_started", f"user:{owner.id}", {})
    return owner.email
