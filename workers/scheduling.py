"""Scheduling actors: expire lapsed holds and offer the freed time to the waitlist.

A lapsed hold never blocks a booking even before this runs (booking expires overlapping
lapsed holds itself); the sweep makes the state visible (``expired``), writes the history
and audit entries, tells the patient (outbox) and offers the time to waiting patients.
``sweep_holds`` enqueues one job per active clinic, each under its own tenant binding.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq
from sqlalchemy import select

from saas.db import tenant_session
from saas.models import Tenant
from saas.models.tenant import OPERATING_STATUSES as OPERATING
from saas.scheduling.holds import expire_holds

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app

log = logging.getLogger(__name__)


def expire_tenant_holds(tenant_id: str) -> int:
    """Expire one clinic's lapsed holds; returns how many."""
    with tenant_session(tenant_id) as sess:
        tenant = sess.get(Tenant, uuid.UUID(str(tenant_id)))
        if tenant is None or tenant.status not in OPERATING:
            return 0
        count = expire_holds(sess, tenant)
    if count:
        log.info("expired holds", extra={"tenant_id": tenant_id, "count": count})
    return count


@dramatiq.actor(queue_name="scheduling", max_retries=3)
@in_app
def expire_holds_for_tenant(tenant_id: str) -> None:
    """Expire one clinic's lapsed holds."""
    expire_tenant_holds(tenant_id)


@dramatiq.actor(queue_name="scheduling", max_retries=0)
@in_app
def sweep_holds() -> None:
    """Enqueue a hold sweep for every active clinic (run every minute by the scheduler)."""
    with tenant_session(None) as sess:
        ids = list(sess.scalars(select(Tenant.id).where(Tenant.status.in_(OPERATING))))
    for tenant_id in ids:
        expire_holds_for_tenant.send(str(tenant_id))
