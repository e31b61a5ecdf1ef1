"""Usage figures for the operator console, counted where clinical rows may be read.

The operator role reads no clinic table, so the counts are made by the runtime role (the
worker), one clinic bound at a time under RLS, and stored as numbers in ``clinic_usage``
(a platform table the operator role reads). A recurring job refreshes every clinic
(``workers.platform.refresh_clinic_usage``); the console shows when they were counted.

Figures: active practitioners, patients, appointments starting this calendar month (UTC),
messages written this month (outbox rows that are not jobs), last audited activity,
storage (bytes of attachments), messages failed (awaiting a retry) and dead, when the
oldest message still to deliver was written, the subscription's status and the Connect
account's state (``none``, ``onboarding``, ``restricted``, ``enabled``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from saas.db import tenant_session
from saas.models import AuditEntry, ClinicUsage, OutboxMessage, Patient, Tenant, utcnow
from saas.scheduling.models import Appointment, Practitioner
from tenants.status import DELETED


def _month_start(now: dt.datetime) -> dt.datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def count_usage(sess: Session, tenant_id: uuid.UUID, *, now: dt.datetime | None = None) -> dict:
    """One clinic's figures (``sess`` bound to that clinic)."""
    now = now or utcnow()
    start = _month_start(now.astimezone(dt.UTC))
    end = (start + dt.timedelta(days=32)).replace(day=1)

    def n(query) -> int:
        return sess.scalar(query) or 0

    return {
        "practitioners": n(
            select(func.count())
            .select_from(Practitioner)
            .where(Practitioner.tenant_id == tenant_id, Practitioner.is_active.is_(True))
        ),
        "patients": n(
            select(func.count()).select_from(Patient).where(Patient.tenant_id == tenant_id)
        ),
        "appointments_month": n(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.tenant_id == tenant_id,
                Appointment.start_at >= start,
                Appointment.start_at < end,
            )
        ),
        "messages_month": n(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.created_at >= start,
                OutboxMessage.created_at < end,
                OutboxMessage.topic.not_like("job.%"),
            )
        ),
        "last_activity": sess.scalar(
            select(func.max(AuditEntry.created_at)).where(AuditEntry.tenant_id == tenant_id)
        ),
        **_operations(sess, tenant_id),
    }


_OPERATIONS = text(
    """
    SELECT
      (SELECT coalesce(sum(size_bytes), 0) FROM patient_attachments WHERE tenant_id = :t),
      (SELECT count(*) FROM outbox WHERE tenant_id = :t AND state = 'failed'),
      (SELECT count(*) FROM outbox WHERE tenant_id = :t AND state = 'dead'),
      (SELECT min(created_at) FROM outbox
        WHERE tenant_id = :t AND state IN ('queued', 'sending', 'failed')),
      (SELECT status FROM clinic_subscriptions WHERE tenant_id = :t),
      (SELECT CASE WHEN charges_enabled AND payouts_enabled THEN 'enabled'
                   WHEN details_submitted THEN 'restricted' ELSE 'onboarding' END
         FROM connect_accounts WHERE tenant_id = :t)
    """
)


def _operations(sess: Session, tenant_id: uuid.UUID) -> dict:
    """Storage, message health and billing states (one round trip)."""
    row = sess.execute(_OPERATIONS, {"t": tenant_id}).one()
    return {
        "storage_bytes": int(row[0]),
        "messages_failed": row[1],
        "messages_dead": row[2],
        "oldest_pending_at": row[3],
        "subscription_status": row[4],
        "connect_state": row[5] or "none",
    }


def refresh_usage(tenant_ids: list[uuid.UUID] | None = None) -> int:
    """Count and store the figures of these clinics (default: every clinic not deleted)."""
    if tenant_ids is None:
        with tenant_session(None) as sess:
            tenant_ids = list(sess.scalars(select(Tenant.id).where(Tenant.status != DELETED)))
    for tenant_id in tenant_ids:
        with tenant_session(tenant_id) as sess:
            figures = count_usage(sess, tenant_id)
            stmt = insert(ClinicUsage).values(clinic_id=tenant_id, counted_at=utcnow(), **figures)
            sess.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ClinicUsage.clinic_id],
                    set_={**figures, "counted_at": stmt.excluded.counted_at},
                )
            )
    return len(tenant_ids)
