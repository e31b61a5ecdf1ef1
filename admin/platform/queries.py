"""Read helpers of the operator console: clinics and their usage.

Usage figures are read from ``clinic_usage`` (numbers counted by a worker job,
:mod:`admin.platform.usage`): the operator role has no SELECT on the tables counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from saas.models import ClinicUsage, Tenant

PAGE_SIZE = 25


@dataclass(frozen=True)
class Usage:
    """A clinic's figures: counts only, never a record."""

    practitioners: int = 0
    patients: int = 0
    appointments_month: int = 0
    messages_month: int = 0
    last_activity: dt.datetime | None = None
    #: When the figures were counted (None: not counted yet).
    counted_at: dt.datetime | None = None
    storage_bytes: int = 0
    messages_failed: int = 0
    messages_dead: int = 0
    oldest_pending_at: dt.datetime | None = None
    #: The platform subscription's status (None: no subscription).
    subscription_status: str | None = None
    #: ``none``, ``onboarding``, ``restricted`` or ``enabled`` (None: not counted yet).
    connect_state: str | None = None


@dataclass(frozen=True)
class TenantPage:
    """One page of the clinic list."""

    rows: list[tuple[Tenant, Usage]]
    total: int
    page: int
    pages: int


def usage_of(sess: Session, tenant_ids: list[uuid.UUID]) -> dict[uuid.UUID, Usage]:
    """Usage figures of these clinics (one round trip)."""
    if not tenant_ids:
        return {}
    rows = sess.scalars(select(ClinicUsage).where(ClinicUsage.clinic_id.in_(tenant_ids)))
    return {
        r.clinic_id: Usage(
            r.practitioners,
            r.patients,
            r.appointments_month,
            r.messages_month,
            r.last_activity,
            r.counted_at,
            r.storage_bytes,
            r.messages_failed,
            r.messages_dead,
            r.oldest_pending_at,
            r.subscription_status,
            r.connect_state,
        )
        for r in rows
    }


def search_tenants(
    sess: Session,
    *,
    q: str = "",
    status: str = "",
    country: str = "",
    page: int = 1,
) -> TenantPage:
    """Clinics matching a name/slug/domain search and filters, newest first, with usage."""
    query = select(Tenant)
    q = (q or "").strip()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Tenant.name.ilike(like),
                Tenant.slug.ilike(like),
                Tenant.custom_domain.ilike(like),
            )
        )
    if status:
        query = query.where(Tenant.status == status)
    if country:
        query = query.where(Tenant.country == country.upper())
    total = sess.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    tenants = sess.scalars(
        query.order_by(Tenant.created_at.desc(), Tenant.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    usage = usage_of(sess, [t.id for t in tenants])
    return TenantPage([(t, usage.get(t.id, Usage())) for t in tenants], total, page, pages)


def get_tenant(sess: Session, tenant_id: uuid.UUID) -> Tenant | None:
    """A clinic by id (platform table: no clinic binding needed)."""
    return sess.get(Tenant, tenant_id)


def countries(sess: Session) -> list[str]:
    """Countries that have clinics, for the filter."""
    return list(sess.scalars(select(Tenant.country).distinct().order_by(Tenant.country)))
