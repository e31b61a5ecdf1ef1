"""Plan limits: active practitioners, locations and text messages a month.

The plan is the clinic's subscription plan (the default plan while it has none), and an
operator may adjust a limit for one clinic (``tenants.limit_overrides``, e.g.
``{"max_practitioners": 8}``); :func:`limits_for` merges both.

Decisions:

- **Counting under a lock.** :func:`ensure_room` locks the clinic's row
  (``SELECT ... FOR UPDATE``) before it counts, so two concurrent adds at the limit minus
  one are serialised: the second counts the first and is refused. Adding and re-activating
  both call it; archiving never does.
- A refusal is ``Conflict(reason="plan_limit")`` (409 in the API, naming the limit in
  ``errors``; a form message on the console page). Nothing is archived automatically when
  a clinic moves to a smaller plan: it can keep what it has, not add more.
- **Text messages** are counted, not sent, here: :func:`sms_allowance` tells the
  notifications code how many of the month's texts are used (outbox messages whose topic
  starts with ``sms.``, not skipped, since the first of the clinic's month) and how many the
  plan allows; the sender decides what to do at the limit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas.db import bind_tenant
from saas.exceptions import Conflict
from saas.models import SmsUsage, Tenant, utcnow

from .models import ClinicSubscription, Plan

LIMITS = ("max_practitioners", "max_locations", "sms_per_month")
#: What each limit counts, for messages.
NOUNS = {
    "max_practitioners": "active practitioners",
    "max_locations": "active locations",
    "sms_per_month": "text messages a month",
}


def plan_of(sess: Session, tenant_id: uuid.UUID) -> Plan:
    """The clinic's plan (the default plan until it subscribes)."""
    from .services import DEFAULT_PLAN

    bind_tenant(sess, tenant_id)
    code = sess.scalar(
        select(ClinicSubscription.plan_code).where(ClinicSubscription.tenant_id == tenant_id)
    )
    return sess.get(Plan, code or DEFAULT_PLAN)


def limits_for(sess: Session, tenant: Tenant) -> dict[str, int]:
    """The clinic's limits: its plan's, with an operator's overrides on top."""
    plan = plan_of(sess, tenant.id)
    limits = {name: int(getattr(plan, name)) for name in LIMITS}
    for name, value in (tenant.limit_overrides or {}).items():
        if name in LIMITS and isinstance(value, int) and value >= 0:
            limits[name] = value
    return limits


def _count(sess: Session, tenant_id: uuid.UUID, what: str) -> int:
    from saas.scheduling.models import Location, Practitioner

    model = Practitioner if what == "max_practitioners" else Location
    return int(
        sess.scalar(
            select(func.count())
            .select_from(model)
            .where(model.tenant_id == tenant_id, model.is_active.is_(True))
        )
        or 0
    )


def ensure_room(sess: Session, tenant: Tenant, what: str) -> None:
    """Refuse (409, ``plan_limit``) one more active practitioner/location beyond the plan.

    Call before adding the new row (or activating an archived one). Locks the clinic's row
    for the rest of the transaction so concurrent adds count each other.
    """
    sess.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    limits = limits_for(sess, tenant)
    allowed = limits[what]
    if _count(sess, tenant.id, what) >= allowed:
        plan = plan_of(sess, tenant.id)
        message = (
            f"Your plan ({plan.name}) allows {allowed} {NOUNS[what]}. Archive one, or choose a "
            "larger plan on the billing page."
        )
        raise Conflict(message, errors={what: message}, reason="plan_limit")


@dataclass(frozen=True)
class Allowance:
    """Text messages this month: used of the plan's limit."""

    used: int
    limit: int
    month_start: dt.datetime

    @property
    def remaining(self) -> int:
        """Texts left this month (never negative)."""
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        """True when no text is left this month."""
        return self.used >= self.limit


def sms_allowance(
    sess: Session, tenant_id: uuid.UUID, *, now: dt.datetime | None = None
) -> Allowance:
    """How many text messages the clinic sent this month and may send.

    Counted from ``sms_usage`` (one row per clinic and calendar month in UTC, added to by the
    relay in the transaction that records a text as sent), so a text is counted once,
    whatever the retries.
    """
    bind_tenant(sess, tenant_id)
    tenant = sess.get(Tenant, tenant_id)
    now = now or utcnow()
    start = now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = sess.scalar(
        select(SmsUsage.messages).where(
            SmsUsage.tenant_id == tenant_id, SmsUsage.month == start.date()
        )
    )
    return Allowance(int(used or 0), limits_for(sess, tenant)["sms_per_month"], start)
