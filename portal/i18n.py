"""The portal's language: English and German (flask-babel), dates and money for the locale.

The clinic picks its default (``branding.language``); a patient can switch with the
language links in the footer (``?lang=de``), remembered in their session. Only portal
pages are translated; the locale selector answers English everywhere else.
"""

from __future__ import annotations

from pathlib import Path

from flask import g, request, session
from flask_babel import Babel

from saas import settings

LANGUAGES = {"en": "English", "de": "Deutsch"}
SESSION_KEY = "portal_lang"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _portal_request() -> bool:
    return request.blueprint == "portal" or request.endpoint == "front_page"


def select_locale() -> str:
    """The patient's choice, else the clinic's default, else English."""
    if not _portal_request() or g.get("tenant") is None:
        return "en"
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen
        return chosen
    if session.get(SESSION_KEY) in LANGUAGES:
        return session[SESSION_KEY]
    default = settings.read(g.tenant, "branding").get("language")
    return default if default in LANGUAGES else "en"


def init(app) -> None:
    """Attach flask-babel to the app (once), with the portal's catalogues."""
    if "babel" in app.extensions:
        return
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
