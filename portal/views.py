"""The patient-facing portal on the clinic's own address.

The front page shows what the clinic offers once its practice is published (the console's
readiness rule): its visit types with duration and price, its practitioners, and the next
free times for each visit type (the same engine as the booking pages, so a time shown can
be booked: each one links to the review step). The branded shell (``portal/base.html``)
shows the clinic's name, colours (``/brand.css``), logo, contact details, opening hours,
legal notices and the language switch.

The page routes live in :mod:`.account`, :mod:`.booking`, :mod:`.visits` and
:mod:`.profile` and :mod:`.two_step`, all on :data:`portal.blueprint.bp`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Response, g, render_template

from saas import db
from saas.scheduling import catalogue
from tenants.onboarding import practice_readiness

from . import account, booking, profile, summaries, two_step, visits  # noqa: F401 - routes
from .blueprint import bp
from .branding import brand_of, favicon_svg
from .catalogue import active_practitioners, active_visit_types, locations_by_id
from .times import next_times

__all__ = ["bp", "home"]
NEXT_TIMES = 4


def _published(tenant) -> bool:
    cat = catalogue.current(db.session, tenant.id)
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
    return (
        cat.bookable(today) if cat is not None else practice_readiness(db.session, tenant).published
    )


def home():
    """The clinic's branded front page."""
    tenant = g.tenant
    if not _published(tenant):
        return render_template("portal/home.html", offers=[], practitioners=[], taking=False)
    services = active_visit_types(tenant)
    practitioners = active_practitioners(tenant)
    places = locations_by_id(tenant)
    names = {p.id: p.display_name for p in practitioners}
    offers = []
    for service in services:
        offers.append(
            {
                "service": service,
                "next": [
                    {
                        "slot": slot,
                        "practitioner": names.get(slot.practitioner_id, ""),
                        "place": places[slot.location_id].name
                        if slot.location_id in places
                        else "",
                    }
                    for slot in next_times(tenant, service.id, NEXT_TIMES)
                ],
            }
        )
    return render_template(
        "portal/home.html", offers=offers, practitioners=practitioners, taking=True
    )


@bp.route("/portal/favicon.svg")
def favicon():
    """The clinic's initial on its colour."""
    resp = Response(favicon_svg(brand_of(g.tenant)), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    resp.vary.add("Host")
    return resp


@bp.route("/privacy")
def privacy():
    """The clinic's privacy notice, as the clinic wrote it."""
    return render_template("portal/text_page.html", kind="privacy")


@bp.route("/imprint")
def imprint():
    """The clinic's legal notice (imprint)."""
    return render_template("portal/text_page.html", kind="imprint")
