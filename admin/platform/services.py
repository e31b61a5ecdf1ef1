"""What an operator does to a clinic: suspend, reactivate, extend a trial, adjust plan limits.

Every verb goes through :func:`tenants.status.change_status` (the one audited transition,
written to the clinic's own log, so the clinic sees it), writes the platform audit log, and
emails the owner through the outbox in the same transaction. The request commits.

Decisions:

- Suspending needs a reason; the reason goes to the owner's email and both logs.
- Reactivating returns a clinic to ``trialing`` while its trial has time left, else ``active``.
- A trial is extended by whole days from its end (or from now, when it already ended);
  only a ``trialing`` clinic has a trial to extend.
- Plan limits are adjusted per clinic (``tenants.limit_overrides``, read by
  :mod:`billing.limits`); an empty value returns a limit to the plan's. Admins only.
- Who may do what is one table (:data:`PERMISSIONS`): support staff look and extend trials;
  only admins suspend and reactivate. Both see a clinic under its owner's support grant and
  help a locked-out owner (:mod:`admin.platform.support`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit as clinic_audit
from saas import jobs, outbox
from saas.actors import Actor
from saas.db import bind_tenant
from saas.exceptions import Conflict, Forbidden, Invalid
from saas.models import Operator, Tenant, User, utcnow
from tenants import status as clinic_status

from . import audit

PERMISSIONS: dict[str, frozenset[str]] = {
    "tenants.view": frozenset({"support", "admin"}),
    "tenants.trial": frozenset({"support", "admin"}),
    "tenants.limits": frozenset({"admin"}),
    "tenants.status": frozenset({"admin"}),
    "tenants.delete": frozenset({"admin"}),
    "tenants.support": frozenset({"support", "admin"}),
    "tenants.owner_help": frozenset({"support", "admin"}),
}
MAX_TRIAL_DAYS = 90
MAX_REASON = 500


def can(operator: Operator | None, permission: str) -> bool:
    """True when ``operator``'s role grants ``permission``."""
    return operator is not None and operator.role in PERMISSIONS[permission]


def require(operator: Operator, permission: str) -> None:
    """Refuse (403) an operator whose role lacks ``permission``."""
    if not can(operator, permission):
        raise Forbidden("Your operator role does not allow this.")


def actor_of(operator: Operator) -> Actor:
    """The operator as the one acting in both audit logs."""
    return Actor.for_operator(operator.id, operator.email)


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": "Enter the reason; the clinic's owner will read it."})
    if len(reason) > MAX_REASON:
        raise Invalid({"reason": f"Keep the reason under {MAX_REASON} characters."})
    return reason


def owner_contacts(sess: Session, tenant: Tenant) -> list[tuple[str, str]]:
    """The clinic owners' (email, name), read with the clinic bound (RLS).

    Only these columns of ``users`` are granted to the operator role.
    """
    bind_tenant(sess, tenant.id)
    rows = sess.execute(
        select(User.email, User.name)
        .where(User.tenant_id == tenant.id, User.role == "owner", User.is_active.is_(True))
        .order_by(User.email)
    ).all()
    return [(r[0], r[1]) for r in rows]


def _email_owner(sess: Session, tenant: Tenant, subject: str, body: str) -> None:
    """Email every owner of the clinic through the outbox."""
    for email, name in owner_contacts(sess, tenant):
        outbox.emit(
            sess,
            tenant.id,
            "email.platform_notice",
            {
                "to": email,
                "subject": subject,
                "body": f"Hello {name},\n\n{body}\n\nThe Similia team\n",
            },
        )


def _change(sess, operator: Operator, tenant: Tenant, new: str, action: str, reason: str) -> bool:
    old = tenant.status
    changed = clinic_status.change_status(
        sess, tenant, new, actor=actor_of(operator), reason=reason
    )
    if changed:
        audit.record(
            sess,
            action,
            actor=actor_of(operator),
            tenant_id=tenant.id,
            target=f"tenant:{tenant.slug}",
            data={"from": old, "to": new, "reason": reason},
        )
    return changed


def suspend_clinic(sess: Session, operator: Operator, tenant: Tenant, reason: str) -> bool:
    """Suspend: the portal says bookings are paused, the console is read-only; no data lost."""
    require(operator, "tenants.status")
    reason = _reason(reason)
    if tenant.status == clinic_status.SUSPENDED:
        return False
    changed = _change(sess, operator, tenant, clinic_status.SUSPENDED, "tenant.suspended", reason)
    if changed:
        _email_owner(
            sess,
            tenant,
            f"{tenant.name} is suspended on Similia",
            "Your clinic has been suspended. Patients cannot book online for now and your "
            "console is read-only; none of your data is lost.\n\n"
            f"Reason: {reason}\n\nReply to this email to resolve it.",
        )
    return changed


def reactivate_clinic(sess: Session, operator: Operator, tenant: Tenant, reason: str) -> bool:
    """Lift a suspension: back to ``trialing`` while the trial lasts, else ``active``."""
    require(operator, "tenants.status")
    reason = _reason(reason)
    if tenant.status != clinic_status.SUSPENDED:
        raise Conflict("Only a suspended clinic can be reactivated.")
    in_trial = tenant.trial_ends_at is not None and tenant.trial_ends_at > utcnow()
    new = clinic_status.TRIALING if in_trial else clinic_status.ACTIVE
    changed = _change(sess, operator, tenant, new, "tenant.reactivated", reason)
    if changed:
        _email_owner(
            sess,
            tenant,
            f"{tenant.name} is active again on Similia",
            "Your clinic is active again: patients can book online and your console works "
            f"as before.\n\nNote: {reason}",
        )
    return changed


def extend_trial(
    sess: Session, operator: Operator, tenant: Tenant, days: int, reason: str
) -> dt.datetime:
    """Add ``days`` to a trialing clinic's trial; returns the new end."""
    require(operator, "tenants.trial")
    reason = _reason(reason)
    if not isinstance(days, int) or not 1 <= days <= MAX_TRIAL_DAYS:
        raise Invalid({"days": f"Enter a number of days from 1 to {MAX_TRIAL_DAYS}."})
    if tenant.status != clinic_status.TRIALING:
        raise Conflict("Only a clinic in its free trial has a trial to extend.")
    now = utcnow()
    old = tenant.trial_ends_at
    start = old if old is not None and old > now else now
    bind_tenant(sess, tenant.id)
    tenant.trial_ends_at = start + dt.timedelta(days=days)
    sess.flush()
    # a clinic that subscribed during its trial: Stripe's trial moves too (after commit)
    jobs.enqueue(sess, tenant.id, "sync_trial")
    data = {
        "from": old.isoformat() if old else None,
        "to": tenant.trial_ends_at.isoformat(),
        "days": days,
        "reason": reason,
    }
    clinic_audit.record(
        sess,
        tenant.id,
        "tenant.trial_extended",
        actor=actor_of(operator),
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    audit.record(
        sess,
        "tenant.trial_extended",
        actor=actor_of(operator),
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    _email_owner(
        sess,
        tenant,
        "Your Similia trial is extended",
        f"Your free trial of Similia now ends on {tenant.trial_ends_at:%d %B %Y} (UTC).",
    )
    return tenant.trial_ends_at


#: Limits an operator may adjust (``tenants.limit_overrides`` keys, as in billing.limits).
LIMIT_NAMES = ("max_practitioners", "max_locations", "sms_per_month")
MAX_LIMIT = 100_000


def set_limit_overrides(
    sess: Session, operator: Operator, tenant: Tenant, values: dict, reason: str
) -> dict:
    """Set (or, with None, clear) a clinic's plan-limit overrides; returns the new overrides."""
    require(operator, "tenants.limits")
    reason = _reason(reason)
    errors = {
        name: f"Enter a whole number from 0 to {MAX_LIMIT}, or leave it empty."
        for name, value in values.items()
        if name not in LIMIT_NAMES
        or (value is not None and (not isinstance(value, int) or not 0 <= value <= MAX_LIMIT))
    }
    if errors:
        raise Invalid(errors)
    old = dict(tenant.limit_overrides or {})
    new = {k: v for k, v in {**old, **values}.items() if v is not None and k in LIMIT_NAMES}
    bind_tenant(sess, tenant.id)
    tenant.limit_overrides = new
    sess.flush()
    data = {"from": old, "to": new, "reason": reason}
    clinic_audit.record(
        sess,
        tenant.id,
        "tenant.limits_changed",
        actor=actor_of(operator),
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    audit.record(
        sess,
        "tenant.limits_changed",
        actor=actor_of(operator),
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    return new
