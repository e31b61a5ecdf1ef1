"""Usage figures for the operator console, counted where clinical rows may be read.

The operator role reads no clinic table, so the counts are made by the runtime role (the
worker), one clinic bound at a time under RLS, and stored as numbers in ``clinic_usage``
(a platform table the operator role reads). A recurring job refreshes every clinic
(``workers.platform.refresh_clinic_usage``); the console shows when they were counted.

Figures: active practitioners, patients, appointments starting this calendar month (UTC),
messages written this month (outbox rows that are not jobs), last audited activity.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
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
