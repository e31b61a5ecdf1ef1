"""How the portal shows times and money: the clinic's zone, named; minor units as prices.

Each function returns a whole phrase, so a translation can reorder it later.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from saas.money import format_price

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def local(instant: dt.datetime, zone: str) -> dt.datetime:
    """``instant`` in the IANA ``zone``."""
    return instant.astimezone(ZoneInfo(zone))


def when(instant: dt.datetime, zone: str) -> str:
    """``Monday 7 December 2026, 10:00 (Europe/Berlin)``."""
    t = local(instant, zone)
    return f"{t:%A} {t.day} {t:%B %Y, %H:%M} ({zone})"


def time(instant: dt.datetime, zone: str) -> str:
    """``10:00``."""
    return f"{local(instant, zone):%H:%M}"


def day(d: dt.date) -> str:
    """``Monday 7 December 2026``."""
    return f"{d:%A} {d.day} {d:%B %Y}"


def month(d: dt.date) -> str:
    """``December 2026``."""
    return f"{d:%B %Y}"


def price(minor: int, currency: str) -> str:
    """``€60``; free visits say so."""
    return format_price(minor, currency) if minor else "Free of charge"


def duration(minutes: int) -> str:
    """``60 minutes`` / ``1 hour 30 minutes``."""
    hours, mins = divmod(int(minutes), 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    if hours:
        return f"{hours} h" if hours > 1 else "1 hour"
    return f"{mins} minutes"


def hours_phrase(minutes: int) -> str:
    """A cutoff as people say it: ``24 hours``, ``2 days``, ``90 minutes``."""
    if minutes % (24 * 60) == 0 and minutes >= 48 * 60:
        return f"{minutes // (24 * 60)} days"
    if minutes % 60 == 0:
        return "1 hour" if minutes == 60 else f"{minutes // 60} hours"
    return f"{minutes} minutes"
