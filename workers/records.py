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

from saas import clinic_states as clinic_status
from saas.db import tenant_session
from saas.models import Tenant
from saas.records import clinic_export, followups, gdpr, keys

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app

log = logging.getLogger(__name__)


def _tenant(sess, tenant_id) -> Tenant | None:
    """The clinic while its data exists (``status.LIVE``: a closing clinic's owner exports)."""
    tenant = sess.get(Tenant, tenant_id)
    return tenant if tenant is not None and tenant.status in clinic_status.LIVE else None


@dramatiq.actor(queue_name="records", max_retries=3)
@in_app
def assemble_export(tenant_id: str, export_id: str) -> None:
    """Build one patient's export bundle."""
    with tenant_session(tenant_id) as sess:
        tenant = _tenant(sess, tenant_id)
        if tenant is not None:
            gdpr.assemble_export(sess, tenant, export_id)


@dramatiq.actor(queue_name="records", max_retries=3, time_limit=3_600_000)
@in_app
def assemble_clinic_export(tenant_id: str, export_id: str) -> None:
    """Build the owner's export of the whole clinic."""
    with tenant_session(tenant_id) as sess:
        tenant = _tenant(sess, tenant_id)
        if tenant is not None:
            clinic_export.assemble_clinic_export(sess, tenant, export_id)


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
        # follow-up invitations only while patients can book; retention whatever the status
        sent = (
            followups.invite_due_follow_ups(sess, tenant)
            if tenant.status in clinic_status.OPERATING
            else 0
        )
        erased = gdpr.apply_retention(sess, tenant)
        clinic_export.expire_clinic_exports(sess, tenant)
    log.info("records daily", extra={"tenant": tenant_id, "invited": sent, "erased": erased})


@dramatiq.actor(queue_name="records", max_retries=0)
@in_app
def records_daily() -> None:
    """Enqueue the daily records work for every clinic with data (``status.LIVE``)."""
    with tenant_session(None) as sess:
        ids = list(sess.scalars(select(Tenant.id).where(Tenant.status.in_(clinic_status.LIVE))))
    for tenant_id in ids:
        records_for_tenant.send(str(tenant_id))
