"""Calendar pages: day and week (a column per practitioner), "my day", and the change feed.

Times are drawn in the clinic's zone, named on the page, DST days in their real length
(:mod:`.grid`). The page shows patient names and visit types only, never clinical
content, so receptionists use it. Each visit links to its details page, where the
actions the scheduling rules allow are offered.

Live updates: the page carries the clinic's schedule version; the ES module asks
``changes`` for it with ``If-None-Match`` every few seconds and gets an empty 304 while
nothing changed (one index-only query, no template), so an open calendar holds no worker
thread between polls. See :func:`.queries.schedule_version`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from flask import g, make_response, render_template, request, url_for
from flask_login import current_user

from saas import db
from saas.memo import Expiring
from saas.models import utcnow
from saas.scheduling.rules import effective_rules
from saas.security.rbac import can, requires

from . import cells, grid, queries
from .appointment_views import BUTTONS
from .blueprint import actor, bp, clinic_today, date_arg, redirect_to, zone

PLACEHOLDER = uuid.UUID(int=0)
#: Seconds between two polls of an open calendar (changes show within 5 seconds).
POLL_SECONDS = 3
#: States a visit can be dragged from.
MOVABLE = ("held", "confirmed")


#: Seconds a laid-out calendar is reused while the clinic's schedule version is unchanged.
LAYOUT_SECONDS = 30
_LAYOUTS = Expiring(128)


def _laid_out(key: tuple, build):
    """The laid-out calendar for ``key``, built by ``build()`` unless a fresh copy is at hand.

    Several people keep the same week open at a clinic and every change reloads it for all
    of them, so the layout (the week's queries, grid placement and column markup: about
    two thirds of the page's time) is kept per worker process under a key holding the
    clinic's schedule version (:func:`.queries.schedule_version`: every booking, move,
    state change and configuration change makes a new key). What the version does not
    cover — a patient's or visit type's name edited meanwhile — shows within
    ``LAYOUT_SECONDS``; a hold that lapses ends the copy at that moment, so a lapsed hold
    is never drawn as held. Entries are read-only once built.
    """
    now = utcnow()

    def until(data: dict) -> dt.datetime:
        lapses = [v.lapses_at for v in data["visits"] if v.lapses_at is not None]
        return min([now + dt.timedelta(seconds=LAYOUT_SECONDS), *lapses])

    return _LAYOUTS.get_or_build(key, now, build, until)


def clear_layouts() -> None:
    """Forget every laid-out calendar (benchmarks time the first render with it)."""
    _LAYOUTS.clear()


def _chosen(practitioners) -> tuple[list, set]:
    """The practitioners picked with ``?p=<id>`` (all when none or none valid)."""
    wanted = set()
    for value in request.args.getlist("p"):
        try:
            wanted.add(uuid.UUID(value))
        except ValueError:
            continue
    chosen = [p for p in practitioners if p.id in wanted]
    return (chosen or practitioners), {p.id for p in chosen}


def _week_of(day: dt.date) -> list[dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return [monday + dt.timedelta(days=i) for i in range(7)]


def _render(view: str, day: dt.date):
    practitioners = queries.practitioners_in_tenant(db.session, g.tenant.id)
    shown, picked = _chosen(practitioners)
    days = [day] if view == "day" else _week_of(day)
    whole_day = request.args.get("whole") == "1"
    # the version first: a change committed while the page is read is then seen again by
    # the next poll, never missed
    version = queries.schedule_version(db.session, g.tenant.id)
    appt_prefix = url_for("calendar.appointment", appointment_id=PLACEHOLDER).removesuffix(
        str(PLACEHOLDER)
    )
    back_qs = "?" + urlencode({"back": request.full_path})
    can_move = _can_move()

    def build() -> dict:
        data = queries.calendar(db.session, g.tenant, days, shown, whole_day=whole_day)
        cells.column_bodies(
            data["columns"],
            appt_prefix=appt_prefix,
            back_qs=back_qs,
            can_move=can_move,
            movable=MOVABLE,
        )
        return data

    key = (
        g.tenant.id,
        g.tenant.timezone,
        version,
        tuple(days),
        tuple((p.id, p.display_name) for p in shown),
        whole_day,
        back_qs,
        can_move,
    )
    data = _laid_out(key, build)
    step = dt.timedelta(days=1 if view == "day" else 7)
    keep = {"p": [str(i) for i in picked] or None, "whole": "1" if whole_day else None}
    dst_days = [(d, f.day_hours) for d, f in data["frames"].items() if f.day_hours != 24]
    return render_template(
        "admin/calendar/calendar.html",
        view=view,
        day=day,
        days=days,
        today=clinic_today(),
        data=data,
        practitioners=practitioners,
        picked=picked,
        whole_day=whole_day,
        keep=keep,
        prev_day=day - step,
        next_day=day + step,
        states=grid.STATES,
        short=grid.SHORT,
        dst_days=dst_days,
        zone_name=g.tenant.timezone,
        zone_abbr=dt.datetime.now(zone()).strftime("%Z"),
        version=version,
        poll_seconds=POLL_SECONDS,
        can_move=can_move,
        step=effective_rules(db.session, g.tenant.id).slot_step_minutes,
    )


def _can_move() -> bool:
    return can(current_user.role, "appointments.manage")


@bp.route("/")
@requires("schedule.view")
def index():
    """The calendar opens on today's day view."""
    return redirect_to("calendar.day_view")


@bp.route("/day")
@requires("schedule.view")
def day_view():
    """One day, a column per practitioner (``?date=``, ``?p=<id>`` to choose, ``?whole=1``)."""
    return _render("day", date_arg())


@bp.route("/week")
@requires("schedule.view")
def week_view():
    """Monday to Sunday of the week of ``?date=``, a column per practitioner and day."""
    return _render("week", date_arg())


@bp.route("/my-day")
@requires("schedule.view")
def my_day():
    """A practitioner's own consultations of one day, as a list with their actions."""
    day = date_arg()
    me = queries.practitioner_of_user(db.session, g.tenant.id, current_user.id)
    rows = []
    if me is not None:
        start, end = grid.day_bounds(day, zone())
        now = utcnow()
        who = actor()
        rows = [
            queries.with_actions(item, who, now)
            for item in queries.appointments_between(db.session, g.tenant.id, start, end, [me.id])
            if item["appt"].start_at >= start
        ]
    return render_template(
        "admin/calendar/my_day.html",
        buttons=BUTTONS,
        day=day,
        today=clinic_today(),
        me=me,
        rows=rows,
        zone=zone(),
        prev_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
    )


@bp.route("/changes")
@requires("schedule.view")
def changes():
    """The clinic's schedule version: 304 while the caller's ``If-None-Match`` still matches."""
    version = queries.schedule_version(db.session, g.tenant.id)
    if request.if_none_match.contains(version):
        response = make_response("", 304)
    else:
        response = make_response({"version": version, "checked": url_for("calendar.changes")})
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-cache, private"
    return response
