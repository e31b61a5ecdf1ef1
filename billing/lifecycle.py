"""The hourly billing sweep: trials that ended, grace periods that ran out, payments that came.

Run by the scheduler (``workers.billing.sweep_billing_status``) with the clock it is given
(``now``), so tests move time instead of waiting. Each clinic is handled in its own
transaction with its row locked, and every move goes through
:func:`tenants.status.change_status` (audited, system actor ``billing``).

Decisions:

- **Trial end.** A ``trialing`` clinic whose ``tenants.trial_ends_at`` has passed and which
  has no Stripe subscription in good standing (trialing, active) becomes ``past_due``: the
  console shows the banner and the grace period starts. A clinic that subscribed during its
  trial is left to Stripe (its subscription's trial ends on the same date, and the webhooks
  move it).
- **Grace.** A clinic ``past_due`` for longer than :data:`GRACE_DAYS` (measured from
  ``tenants.status_changed_at``) is ``suspended``: bookings paused, console read-only, no
  data lost. Stripe's own retries may end sooner (``unpaid`` → suspended by webhook).
- **Paid.** A ``past_due`` clinic whose subscription Stripe reports ``active`` (an
  ``invoice.paid`` the webhook applied) is ``active``; the sweep repairs a move that was
  missed. A suspension by an operator is never lifted here.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import or_, select

from saas.actors import Actor
from saas.db import bind_tenant, tenant_session
from saas.models import Tenant, utcnow
from tenants import status as clinic_status

from .models import ClinicSubscription

log = logging.getLogger(__name__)

#: Days a clinic stays open while past due, before it is suspended.
GRACE_DAYS = 7
BILLING = Actor.system("billing")
#: Stripe subscription states that pay (or will pay) for the clinic.
IN_GOOD_STANDING = frozenset({"trialing", "active"})


def grace_ends(tenant: Tenant) -> dt.datetime | None:
    """When a past-due clinic is suspended (None for other states)."""
    if tenant.status != clinic_status.PAST_DUE or tenant.status_changed_at is None:
        return None
    return tenant.status_changed_at + dt.timedelta(days=GRACE_DAYS)


def decide(
    tenant: Tenant, sub: ClinicSubscription | None, now: dt.datetime
) -> tuple[str, str] | None:
    """The move the sweep makes for one clinic: (new status, reason), or None."""
    paying = sub is not None and bool(sub.stripe_subscription_id)
    standing = paying and sub.status in IN_GOOD_STANDING
    if tenant.status == clinic_status.TRIALING:
        if tenant.trial_ends_at is not None and tenant.trial_ends_at <= now and not standing:
            return clinic_status.PAST_DUE, "trial ended without a subscription"
    elif tenant.status == clinic_status.PAST_DUE:
        if paying and sub.status == "active":
            return clinic_status.ACTIVE, "invoice paid"
        ends = grace_ends(tenant)
        if ends is not None and ends <= now:
            return clinic_status.SUSPENDED, f"past due for more than {GRACE_DAYS} days"
    return None


def candidates(now: dt.datetime, only: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Clinics the sweep may move (trial over, or past due); ``only`` narrows them."""
    query = select(Tenant.id).where(
        or_(
            (Tenant.status == clinic_status.TRIALING) & (Tenant.trial_ends_at <= now),
            Tenant.status == clinic_status.PAST_DUE,
        )
    )
    if only is not None:
        query = query.where(Tenant.id.in_(only))
    with tenant_session(None) as sess:
        return list(sess.scalars(query))


def sweep(now: dt.datetime | None = None, only: list[uuid.UUID] | None = None) -> dict[str, str]:
    """Move every clinic that is due; returns ``{tenant_id: new status}`` of the moves.

    ``now`` is the sweep's clock; ``only`` limits it to some clinics (tests).
    """
    now = now or utcnow()
    moved: dict[str, str] = {}
    for tenant_id in candidates(now, only):
        with tenant_session(tenant_id) as sess:
            tenant = sess.get(Tenant, tenant_id, with_for_update=True, populate_existing=True)
            if tenant is None:
                continue
            bind_tenant(sess, tenant.id)
            sub = sess.get(ClinicSubscription, tenant.id)
            move = decide(tenant, sub, now)
            if move is None:
                continue
            new, reason = move
            clinic_status.change_status(sess, tenant, new, actor=BILLING, reason=reason)
            # the grace is measured from the sweep's clock (tests move it)
            tenant.status_changed_at = now
            moved[str(tenant_id)] = new
            log.info("billing sweep: clinic %s → %s (%s)", tenant_id, new, reason)
    return moved
