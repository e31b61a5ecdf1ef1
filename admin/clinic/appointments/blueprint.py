"""The calendar's blueprint (``/console/calendar``) and what its pages share.

Its static folder holds the calendar's stylesheets and its one ES module (live refresh and
drag to reschedule); every page works without it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, request
from flask_login import current_user

from admin.clinic import TEMPLATES
from saas import db
from saas.actors import Actor
from saas.exceptions import not_found
from saas.inputs import FIRST_DAY, LAST_DAY
from saas.scheduling.models import Appointment
from saas.scheduling.queries import get_appointment_in_tenant
from saas.web import CLINIC, serve_on

bp = Blueprint(
    "calendar",
    __name__,
    url_prefix="/console/calendar",
    template_folder=TEMPLATES,
    static_folder=str(Path(__file__).parent / "static"),
    static_url_path="/static",
)
serve_on(bp, CLINIC)


def zone() -> ZoneInfo:
    """The clinic's time zone."""
    return ZoneInfo(g.tenant.timezone)


def clinic_today() -> dt.date:
    """Today's date in the clinic's time zone."""
    return dt.datetime.now(zone()).date()


def actor() -> Actor:
    """The signed-in staff member as the scheduling rules see them."""
    return Actor.for_staff(current_user)


def date_arg(name: str = "date") -> dt.date:
    """``?date=YYYY-MM-DD`` (default today); a date not understood falls back with a message."""
    today = clinic_today()
    value = request.args.get(name)
    if not value:
        return today
    try:
        day = dt.date.fromisoformat(value)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(day)
    except ValueError:
        flash("That date was not understood; showing today.", "info")
        return today
    return day


def appointment_or_404(appointment_id, *, for_update: bool = False) -> Appointment:
    """The clinic's appointment; the same 404 for a missing one and another clinic's."""
    appt = get_appointment_in_tenant(db.session, g.tenant.id, appointment_id, for_update=for_update)
    if appt is None:
        raise not_found("appointment")
    return appt


def local(instant: dt.datetime) -> dt.datetime:
    """An instant in the clinic's zone."""
    return instant.astimezone(zone())


def when(start: dt.datetime, end: dt.datetime | None = None) -> str:
    """``Tuesday 3 March 2026, 10:00–11:00 CET`` in the clinic's zone."""
    s = local(start)
    text = f"{s:%A} {s.day} {s:%B %Y}, {s:%H:%M}"
    if end is not None:
        text += f"–{local(end):%H:%M}"
    return f"{text} {s:%Z}"


def redirect_to(endpoint: str, **values):
    """Post-redirect-get to one of the calendar's pages."""
    from flask import redirect, url_for

    return redirect(url_for(endpoint, **values))
