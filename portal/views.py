"""The patient-facing portal on the clinic's own address.

The front page shows what the clinic offers: its visit types with duration and price, its
practitioners, and the next free times for each visit type (the same engine as the public
slots API, so the page never shows a time that cannot be booked).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, g, render_template
from sqlalchemy import select

from saas import db
from saas.models import utcnow
from saas.money import format_price
from saas.scheduling import catalogue
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.queries import next_free
from saas.web import CLINIC, serve_on
from tenants.branding import public_profile
from tenants.onboarding import practice_readiness

bp = Blueprint("portal", __name__, template_folder="templates")
serve_on(bp, CLINIC)
NEXT_TIMES = 4


def home():
    """The clinic's branded front page."""
    tenant = g.tenant
    profile = public_profile(db.session, tenant)
    cat = catalogue.current(db.session, tenant.id)
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
    published = (
        cat.bookable(today) if cat is not None else practice_readiness(db.session, tenant).published
    )
    if not published:
        return render_template(
            "portal/home.html", offers=[], practitioners=[], taking=False, profile=profile
        )
    if cat is not None:
        services = sorted(
            (v for v in cat.visit_types.values() if v.is_active),
            key=lambda v: (-v.duration_minutes, v.name),
        )
        practitioners = sorted(
            (p for p in cat.practitioners.values() if p.is_active), key=lambda p: p.display_name
        )
        places = cat.locations
    else:
        services = list(
            db.session.scalars(
                select(VisitType)
                .where(VisitType.tenant_id == tenant.id, VisitType.is_active.is_(True))
                .order_by(VisitType.duration_minutes.desc(), VisitType.name)
            )
        )
        practitioners = list(
            db.session.scalars(
                select(Practitioner)
                .where(Practitioner.tenant_id == tenant.id, Practitioner.is_active.is_(True))
                .order_by(Practitioner.display_name)
            )
        )
        places = {
            loc.id: loc
            for loc in db.session.scalars(select(Location).where(Location.tenant_id == tenant.id))
        }
    names = {p.id: p.display_name for p in practitioners}
    now = utcnow()
    offers = []
    for service in services:
        found = next_free(db.session, tenant.id, service.id, NEXT_TIMES, now=now)
        offers.append(
            {
                "service": service,
                "price": format_price(service.price_minor, service.currency),
                "next": [
                    {
                        "start": slot.start,
                        "practitioner": names.get(slot.practitioner_id, ""),
                        "place": places[slot.location_id].name
                        if slot.location_id in places
                        else "",
                    }
                    for slot in found
                ],
            }
        )
    return render_template(
        "portal/home.html",
        offers=offers,
        practitioners=practitioners,
        taking=True,
        profile=profile,
    )
