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

from flask import Response, g, render_template, request, session
from flask_babel import get_locale

from saas import db
from saas.memo import Expiring
from saas.scheduling import catalogue
from tenants.onboarding import practice_readiness

from . import account, booking, profile, summaries, two_step, visits  # noqa: F401 - routes
from .blueprint import bp
from .branding import brand_of, favicon_svg
from .catalogue import active_practitioners, active_visit_types, locations_by_id
from .session import COOKIE as PATIENT_COOKIE
from .times import next_times

__all__ = ["bp", "home"]
NEXT_TIMES = 4


def _published(tenant) -> bool:
    cat = catalogue.current(db.session, tenant.id)
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
    return (
        cat.bookable(today) if cat is not None else practice_readiness(db.session, tenant).published
    )


#: Seconds a rendered front page is reused at most (its "next free times" move with the clock).
PAGE_SECONDS = 30
_PAGES = Expiring(512)


def _page_key():
    """The cache key of this front-page view, or None when it must be rendered for the visitor.

    Only what every anonymous visitor sees alike is reused: no patient cookie, no message
    waiting in the session, no query string but ``embed``. The key holds the clinic's
    versions (:func:`saas.db.versions`: its row — name, settings, logo —, its configuration
    and its bookings, all bumped in the changing transaction), so any change to what the page
    shows makes a new key; the language and the embedded shell complete it.
    """
    if request.cookies.get(PATIENT_COOKIE) or session.get("_flashes"):
        return None
    if any(arg != "embed" for arg in request.args):
        return None
    seen = db.versions(db.session)
    if seen is None or seen.tenant_row is None or seen.tenant_row != g.get("tenant_row"):
        return None
    return (g.tenant.id, seen, str(get_locale()), bool(g.get("portal_embed")))


def _reused(key, render) -> str:
    """``render()``'s page for ``key``, reused for up to :data:`PAGE_SECONDS`.

    Visitors of a busy clinic's front page all see the same page between two changes to
    the clinic; rendering it (templates, translations, the next free times) is most of a
    view's cost. Kept per worker process, bounded, and never longer than until the first
    free time it shows begins or ``PAGE_SECONDS``.
    """
    if key is None:
        return render()[0]
    now = dt.datetime.now(dt.UTC)

    def until(built: tuple) -> dt.datetime:
        first_start = built[1]
        ends = [now + dt.timedelta(seconds=PAGE_SECONDS)]
        return min(ends + [first_start] if first_start is not None else ends)

    return _PAGES.get_or_build(key, now, render, until)[0]


def clear_pages() -> None:
    """Forget every reused front page (benchmarks time a first render with it)."""
    _PAGES.clear()


def home():
    """The clinic's branded front page (reused between changes: see :func:`_reused`)."""
    return _reused(_page_key(), _render_home)


def _render_home() -> tuple[str, dt.datetime | None]:
    """The front page's HTML and the start of the earliest free time it shows."""
    tenant = g.tenant
    if not _published(tenant):
        html = render_template("portal/home.html", offers=[], practitioners=[], taking=False)
        return html, None
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
    starts = [n["slot"].start for o in offers for n in o["next"]]
    html = render_template(
        "portal/home.html", offers=offers, practitioners=practitioners, taking=True
    )
    return html, min(starts, default=None)


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
