"""Consented support access: the clinic's owner lets Similia support look, for a while.

Decisions:

- Only an owner grants or revokes (permission ``support.grant``); a grant lasts 1, 4 or 24
  hours (:data:`DURATIONS`), and a new grant replaces the active one (revoked, then new).
- "Active" is decided by the **database clock** (``expires_at > now()``) in the one query
  every check uses (:func:`active_grant`), so web servers' clocks do not matter.
- What support sees while a grant is active is non-clinical console information only:
  staff (name, email, role, active), clinic settings, usage counts, message states (topic,
  state, attempts, times — never a message's content). The operator role's grants
  (blindness test) keep clinical tables out of reach whatever the grant says.
- Granting, revoking and every support visit are written to the clinic's audit log and to
  the platform audit log (both sides see them). The console shows a banner while active.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import as_actor
from saas.exceptions import Invalid, NotFound
from saas.models import SupportGrant, Tenant, User

#: Durations an owner may choose, in hours.
DURATIONS = (1, 4, 24)


def active_grant(sess: Session, tenant_id: uuid.UUID) -> SupportGrant | None:
    """The clinic's active grant (latest to expire), by the database clock; ``sess`` bound."""
    return sess.scalar(
        select(SupportGrant)
        .where(
            SupportGrant.tenant_id == tenant_id,
            SupportGrant.revoked_at.is_(None),
            SupportGrant.expires_at > func.now(),
        )
        .order_by(SupportGrant.expires_at.desc())
        .limit(1)
    )


def recent_grants(sess: Session, tenant_id: uuid.UUID, limit: int = 20) -> list[SupportGrant]:
    """The clinic's latest grants, newest first."""
    return list(
        sess.scalars(
            select(SupportGrant)
            .where(SupportGrant.tenant_id == tenant_id)
            .order_by(SupportGrant.created_at.desc())
            .limit(limit)
        )
    )


def _platform_record(sess: Session, action: str, actor, tenant: Tenant, data: dict) -> None:
    from admin.platform import audit as platform_audit  # the platform log's public writer

    platform_audit.record(
        sess,
        action,
        actor=as_actor(actor),
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        data=data,
    )


def _end_active(sess: Session, tenant: Tenant, user: User) -> int:
    result = sess.execute(
        update(SupportGrant)
        .where(
            SupportGrant.tenant_id == tenant.id,
            SupportGrant.revoked_at.is_(None),
            SupportGrant.expires_at > func.now(),
        )
        .values(revoked_at=func.now(), revoked_by=user.id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def grant_support_access(sess: Session, tenant: Tenant, user: User, hours: int) -> SupportGrant:
    """Let support look for ``hours`` (1, 4 or 24) from now; replaces an active grant."""
    if hours not in DURATIONS:
        raise Invalid({"hours": "Choose 1, 4 or 24 hours."})
    _end_active(sess, tenant, user)
    now = sess.scalar(select(func.now()))
    grant = SupportGrant(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        granted_by=user.id,
        hours=hours,
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
    )
    sess.add(grant)
    sess.flush()
    data = {"hours": hours, "until": grant.expires_at.isoformat()}
    audit.record(
        sess, tenant.id, "support.granted", actor=user, target=f"support:{grant.id}", data=data
    )
    _platform_record(sess, "support.granted", user, tenant, data)
    return grant


def revoke_support_access(sess: Session, tenant: Tenant, user: User) -> None:
    """End the active grant now; NotFound when there is none."""
    if not _end_active(sess, tenant, user):
        raise NotFound("Support access is not active.")
    audit.record(sess, tenant.id, "support.revoked", actor=user, target=f"tenant:{tenant.slug}")
    _platform_record(sess, "support.revoked", user, tenant, {})
