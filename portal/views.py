"""The patient-facing portal on the clinic's own address.

The front page shows what the clinic offers: its visit types with duration and price, its
practitioners, and the next free times for each visit type (the same engine as the public
slots API, so the page never shows a time that cannot be booked).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, render_template
from sqlalchemy import select

from saas import db
from saas.models import utcnow
from saas.money import format_price
from saas.scheduling import catalogue
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.queries import search_slots
from saas.web import CLINIC, serve_on

bp = Blueprint("portal", __name__, template_folder="templates")
serve_on(bp, CLINIC)
LOOKAHEAD_DAYS = 14
NEXT_TIMES = 4


def home():
    """The clinic's branded front page."""
    tenant = g.tenant
    cat = catalogue.current(db.session, tenant.id)
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
        found = search_slots(
            db.session, tenant.id, service.id, now, now + dt.timedelta(days=LOOKAHEAD_DAYS)
        )
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
                    for slot in found.slots[:NEXT_TIMES]
                ],
            }
        )
    return render_template("portal/home.html", offers=offers, practitioners=practitioners)
