"""Reminder planning: each clinic's upcoming visits get their reminder rows (outbox).

Practitioners' daily agendas are planned in the same pass (:mod:`saas.scheduling.agenda`).

``sweep_reminders`` (every 5 minutes, :mod:`workers.scheduler`) enqueues one planning job
per active clinic; planning is idempotent (unique delivery keys), so a second scheduler or
a restart is harmless. The rows fall due at their send time and the outbox relay (kicked by
the outbox sweep) delivers them.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq
from sqlalchemy import select

from saas import clinic_states as clinic_status
from saas.db import tenant_session
from saas.models import Tenant
from saas.scheduling.agenda import plan_agendas
from saas.scheduling.reminders import plan_reminders

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app

log = logging.getLogger(__name__)


def plan_tenant_reminders(tenant_id: str) -> int:
    """Plan one clinic's reminders; returns how many were written."""
    with tenant_session(tenant_id) as sess:
        tenant = sess.get(Tenant, uuid.UUID(str(tenant_id)))
        if tenant is None or tenant.status != "active":
            return 0
        count = plan_reminders(sess, tenant)
        count += plan_agendas(sess, tenant)
    if count:
        log.info("planned reminders", extra={"tenant_id": tenant_id, "count": count})
    return count


@dramatiq.actor(queue_name="scheduling", max_retries=3)
@in_app
def plan_reminders_for_tenant(tenant_id: str) -> None:
    """Plan one clinic's reminders."""
    plan_tenant_reminders(tenant_id)


@dramatiq.actor(queue_name="scheduling", max_retries=0)
@in_app
def sweep_reminders() -> None:
    """Enqueue reminder planning for every operating clinic (trialing, active, past due)."""
    with tenant_session(None) as sess:
        ids = list(
            sess.scalars(select(Tenant.id).where(Tenant.status.in_(clinic_status.OPERATING)))
        )
    for tenant_id in ids:
        plan_reminders_for_tenant.send(str(tenant_id))
