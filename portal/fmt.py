"""How the portal shows times and money: the clinic's zone, named; prices for the locale.

Each function returns a whole phrase in the page's language (flask-babel), so a
translation can reorder it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_day_names
from babel.numbers import format_currency
from flask_babel import get_locale, gettext, ngettext

from saas.money import format_price

#: Date patterns per language (English keeps the platform's familiar form).
PATTERNS = {
    "en": {"when": "EEEE d MMMM y, HH:mm", "day": "EEEE d MMMM y", "month": "MMMM y"},
    "de": {"when": "EEEE, d. MMMM y, HH:mm", "day": "EEEE, d. MMMM y", "month": "MMMM y"},
}


def _lang() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in PATTERNS else "en"


def local(instant: dt.datetime, zone: str) -> dt.datetime:
    """``instant`` in the IANA ``zone``."""
    return instant.astimezone(ZoneInfo(zone))


def when(instant: dt.datetime, zone: str) -> str:
    """``Monday 7 December 2026, 10:00 (Europe/Berlin)``."""
    lang = _lang()
    text = format_datetime(local(instant, zone), PATTERNS[lang]["when"], locale=lang)
    return f"{text} ({zone})"


def time(instant: dt.datetime, zone: str) -> str:
    """``10:00``."""
    return f"{local(instant, zone):%H:%M}"


def day(d: dt.date) -> str:
    """``Monday 7 December 2026``."""
    lang = _lang()
    return format_date(d, PATTERNS[lang]["day"], locale=lang)


def month(d: dt.date) -> str:
    """``December 2026``."""
    lang = _lang()
    return format_date(d, PATTERNS[lang]["month"], locale=lang)


def weekdays() -> list[str]:
    """Short weekday names, Monday first."""
    names = get_day_names("abbreviated", locale=_lang())
    return [names[i] for i in range(7)]


def price(minor: int, currency: str) -> str:
    """``€60`` (``60,00 €`` in German); free visits say so."""
    if not minor:
        return gettext("Free of charge")
    lang = _lang()
    if lang == "en":
        return format_price(minor, currency)
    return format_currency(minor / 100, currency, locale="de_DE")


def duration(minutes: int) -> str:
    """``60 minutes`` / ``1 h 30 min``."""
    hours, mins = divmod(int(minutes), 60)
    if hours and mins:
        return gettext("%(hours)d h %(minutes)d min", hours=hours, minutes=mins)
    if hours:
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    return ngettext("%(num)d minute", "%(num)d minutes", mins)


def hours_phrase(minutes: int) -> str:
    """A cutoff as people say it: ``24 hours``, ``2 days``, ``90 minutes``."""
    if minutes % (24 * 60) == 0 and minutes >= 48 * 60:
        return ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60))
    if minutes % 60 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)
