"""Free times for the portal's pickers, through two small functions so the source can change.

:func:`free_times` (a range: the day, the nearest alternatives), :func:`month_days` (the
free days of a month, counted in one pass) and :func:`next_times` (the front page's cached
"next free times") are the only places the portal asks the slot engine.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from saas import db
from saas.models import utcnow
from saas.scheduling.queries import free_days, next_free, search_slots


def free_times(
    tenant, visit_type_id, start: dt.datetime, end: dt.datetime, *, practitioner_id=None
):
    """Free starts of the visit type in ``[start, end)`` (a ``SlotSearch``)."""
    return search_slots(
        db.session, tenant.id, visit_type_id, start, end, practitioner_id=practitioner_id
    )


def next_times(tenant, visit_type_id, count: int):
    """The first ``count`` free starts of the visit type (the cached "next free times")."""
    return next_free(db.session, tenant.id, visit_type_id, count)


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants a local day starts and ends at."""
    start = dt.datetime.combine(day, dt.time(), zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)


def month_days(tenant, visit_type_id, month: dt.date, zone: ZoneInfo, *, practitioner_id=None):
    """``(weeks, free)``: the month as weeks of dates (None pads) and {date: count of times}."""
    first = month.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(last, zone)
    # from today's start, not from now: the slot engine leaves out what is past (and inside
    # the minimum notice), and a start that moves with every request would never be served
    # from the free-times cache
    today_start, _ = day_bounds(utcnow().astimezone(zone).date(), zone)
    start = max(start, today_start)
    free: dict[dt.date, int] = {}
    if start < end:  # one pass over the month, counted per day (not day by day)
        free = free_days(
            db.session, tenant.id, visit_type_id, start, end, zone, practitioner_id=practitioner_id
        )
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    weeks = [[d if d.month == first.month else None for d in week] for week in weeks]
    return weeks, free


def nearest(tenant, visit_type_id, around: dt.datetime, *, practitioner_id=None, count: int = 3):
    """The ``count`` free starts nearest to ``around`` (within a week either side), in order."""
    now = utcnow()
    start = max(now, around - dt.timedelta(days=7))
    found = free_times(
        tenant, visit_type_id, start, around + dt.timedelta(days=7), practitioner_id=practitioner_id
    )
    picks = sorted(found.slots, key=lambda s: abs((s.start - around).total_seconds()))
    picks = [s for s in picks if s.start != around][:count]
    return sorted(picks, key=lambda s: s.start)
