"""Records actors: export assembly, data-key re-encryption, and the daily records sweep.

``records_daily`` (enqueue once a day from the scheduler) invites patients to book due
follow-ups, applies each clinic's retention and expires export bundles. Export assembly is
a job written to the outbox with the request (:mod:`saas.jobs`), so none is ever lost.
Re-encryption works in small batches, each its own transaction, so
it can stop anywhere and resume (rows still under an old data-key version are simply found
again); ``saas keys status`` shows the progress.
"""

from __future__ import annotations

import logging

import dramatiq
from sqlalchemy import select

from saas.db import tenant_session
from saas.models import Tenant
from saas.models.tenant import OPERATING_STATUSES as OPERATING
from saas.records import followups, gdpr, keys

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app

log = logging.getLogger(__name__)


def _tenant(sess, tenant_id) -> Tenant | None:
    tenant = sess.get(Tenant, tenant_id)
    # trialing and past-due clinics work as active ones do (tenants.status.OPERATING)
    return tenant if tenant is not None and tenant.status in OPERATING else None


@dramatiq.actor(queue_name="records", max_retries=3)
@in_app
def assemble_export(tenant_id: str, export_id: str) -> None:
    """Build one patient's export bundle."""
    with tenant_session(tenant_id) as sess:
        tenant = _tenant(sess, tenant_id)
        if tenant is not None:
            gdpr.assemble_export(sess, tenant, export_id)


@dramatiq.actor(queue_name="records", max_retries=10, time_limit=3_600_000)
@in_app
def reencrypt_tenant(tenant_id: str, batch_size: int = keys.BATCH) -> None:
    """Re-seal every row of a clinic under its current data key, batch by batch."""
    keys.reencrypt_all(tenant_id, batch_size=batch_size)


@dramatiq.actor(queue_name="records", max_retries=3)
@in_app
def records_for_tenant(tenant_id: str) -> None:
    """The daily records work of one clinic."""
    with tenant_session(tenant_id) as sess:
        tenant = _tenant(sess, tenant_id)
        if tenant is None:
            return
        sent = followups.invite_due_follow_ups(sess, tenant)
        erased = gdpr.apply_retention(sess, tenant)
    log.info("records daily", extra={"tenant": tenant_id, "invited": sent, "erased": erased})


@dramatiq.actor(queue_name="records", max_retries=0)
@in_app
def records_daily() -> None:
    """Enqueue the daily records work for every active clinic."""
    with tenant_session(None) as sess:
        ids = list(sess.scalars(select(Tenant.id).where(Tenant.status.in_(OPERATING))))
    for tenant_id in ids:
        records_for_tenant.send(str(tenant_id))
