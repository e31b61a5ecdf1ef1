"""What the clinic offers, as the portal lists it (active rows of this clinic only)."""

from __future__ import annotations

from sqlalchemy import select

from saas import db
from saas.scheduling.models import Practitioner, VisitType
from saas.scheduling.queries import offerings


def active_visit_types(tenant) -> list[VisitType]:
    """The clinic's bookable visit types, longest first."""
    return list(
        db.session.scalars(
            select(VisitType)
            .where(VisitType.tenant_id == tenant.id, VisitType.is_active.is_(True))
            .order_by(VisitType.duration_minutes.desc(), VisitType.name)
        )
    )


def visit_type_in(tenant, visit_type_id) -> VisitType | None:
    """An active visit type of this clinic (None for missing, archived or another clinic's)."""
    if visit_type_id is None:
        return None
    return db.session.scalar(
        select(VisitType).where(
            VisitType.tenant_id == tenant.id,
            VisitType.id == visit_type_id,
            VisitType.is_active.is_(True),
        )
    )


def practitioners_for(tenant, visit_type_id) -> list[Practitioner]:
    """Active practitioners who offer the visit type somewhere, by name."""
    ids = {o.practitioner_id for o in offerings(db.session, tenant.id, visit_type_id)}
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == tenant.id, Practitioner.id.in_(ids))
            .order_by(Practitioner.display_name)
        )
    )
