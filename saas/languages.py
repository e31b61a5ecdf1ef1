"""Which language a patient is written to in, and writing in it outside a request.

Patients get every email in their language: the one they used on the portal
(``patients.preferred_language``, set when they register and when they switch language
while signed in), else the clinic's default (``branding.language``), else English.
``preferred_language`` is free text staff may also fill in ("de", "de-AT", "German",
"Deutsch"), so :func:`supported` reads it generously and answers None for a language the
portal does not speak (the clinic's default then applies).

:func:`force_locale` renders text with the portal's catalogues (``portal/translations``)
wherever an app context exists: in a request, in the outbox worker, in the daily jobs.
Email texts are then plain ``gettext`` calls inside ``with force_locale(lang):``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from babel.dates import format_date, format_datetime
from flask import current_app
from flask_babel import force_locale as _babel_force_locale
from flask_babel import get_locale

#: The languages the portal and its emails speak.
LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT = "en"
#: Date patterns of emails per language.
PATTERNS = {
    "en": {"when": "EEEE d MMMM y, HH:mm", "date": "d MMM y"},
    "de": {"when": "EEEE, d. MMMM y, HH:mm", "date": "d. MMM y"},
}
_NAMES = {"english": "en", "englisch": "en", "german": "de", "deutsch": "de"}


def supported(value: str | None) -> str | None:
    """``"de"`` for ``de``, ``de-AT``, ``de_DE``, ``German``, ``Deutsch``; None otherwise."""
    if not value:
        return None
    value = value.strip().lower()
    if value in _NAMES:
        return _NAMES[value]
    code = value.replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


def clinic_language(tenant) -> str:
    """The clinic's default language (``branding.language``), else English."""
    # the stored value, re-checked: workers boot without the web app, so the ``branding``
    # section (declared by ``tenants``) is not in the settings registry there
    stored = ((tenant.settings or {}).get("branding") or {}).get("language")
    return supported(stored) or DEFAULT


def patient_language(tenant, patient) -> str:
    """The language to write to ``patient`` in: theirs, else the clinic's."""
    own = supported(getattr(patient, "preferred_language", None)) if patient else None
    return own or clinic_language(tenant)


@contextmanager
def force_locale(lang: str) -> Iterator[None]:
    """Render ``gettext`` and the portal's date and money formats in ``lang`` meanwhile.

    Needs an app context with flask-babel attached (every app :func:`saas.app.create_app`
    makes has it); raises ``RuntimeError`` otherwise rather than silently writing English.
    """
    if "babel" not in current_app.extensions:
        raise RuntimeError("flask-babel is not attached to this app")
    with _babel_force_locale(supported(lang) or DEFAULT):
        yield


def current() -> str:
    """The language being written in now (English outside :func:`force_locale`)."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT


def when(instant: dt.datetime) -> str:
    """``Monday 7 December 2026, 10:00`` for an aware local time, in the current language."""
    lang = current()
    return format_datetime(instant, PATTERNS[lang]["when"], tzinfo=instant.tzinfo, locale=lang)


def date(day: dt.date) -> str:
    """``7 Dec 2026`` (``7. Dez. 2026``) in the current language."""
    lang = current()
    return format_date(day, PATTERNS[lang]["date"], locale=lang)
