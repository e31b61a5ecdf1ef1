"""What the clinic offers, as the portal lists it (active rows of this clinic only).

Read from the clinic's practice catalogue (:mod:`saas.scheduling.catalogue`) when it is
current, so the portal's pages cost no queries for it; from the database otherwise.
"""

from __future__ import annotations

from sqlalchemy import select

from saas import db
from saas.scheduling import catalogue
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.queries import offerings


def active_visit_types(tenant) -> list[VisitType]:
    """The clinic's bookable visit types, longest first."""
    cat = catalogue.current(db.session, tenant.id)
    if cat is not None:
        return sorted(
            (v for v in cat.visit_types.values() if v.is_active),
            key=lambda v: (-v.duration_minutes, v.name),
        )
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
    cat = catalogue.current(db.session, tenant.id)
    if cat is not None:
        found = cat.visit_types.get(visit_type_id)
        return found if found is not None and found.is_active else None
    return db.session.scalar(
        select(VisitType).where(
            VisitType.tenant_id == tenant.id,
            VisitType.id == visit_type_id,
            VisitType.is_active.is_(True),
        )
    )


def practitioners_for(tenant, visit_type_id) -> list[Practitioner]:
    """Active practitioners who offer the visit type somewhere, by name."""
    cat = catalogue.current(db.session, tenant.id)
    if cat is not None:
        ids = {o.practitioner_id for o in cat.offerings(visit_type_id)}
        return sorted((cat.practitioners[i] for i in ids), key=lambda p: p.display_name)
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


def active_practitioners(tenant) -> list[Practitioner]:
    """The clinic's active practitioners, by name."""
    cat = catalogue.current(db.session, tenant.id)
    if cat is not None:
        return sorted(
            (p for p in cat.practitioners.values() if p.is_active), key=lambda p: p.display_name
        )
    return list(
        db.session.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == tenant.id, Practitioner.is_active.is_(True))
            .order_by(Practitioner.display_name)
        )
    )


def locations_by_id(tenant) -> dict:
    """The clinic's locations (archived ones too: past visits name them) by id."""
    cat = catalogue.current(db.session, tenant.id)
    if cat is not None:
        return cat.locations
    return {
        loc.id: loc
        for loc in db.session.scalars(select(Location).where(Location.tenant_id == tenant.id))
    }
