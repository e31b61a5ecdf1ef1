"""The portal's language: English and German (flask-babel), dates and money for the locale.

The clinic picks its default (``branding.language``); a patient can switch with the
language links in the footer (``?lang=de``), remembered in their session and, when they
are signed in, as their ``preferred_language`` (the language their emails are written in,
:mod:`saas.languages`). Only portal pages are translated; the locale selector answers
English everywhere else, and outside a request (emails set their language themselves).
"""

from __future__ import annotations

from pathlib import Path

from flask import g, has_request_context, request, session
from flask_babel import Babel

from saas import settings
from saas.languages import LANGUAGES

SESSION_KEY = "portal_lang"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _portal_request() -> bool:
    return request.blueprint == "portal" or request.endpoint == "front_page"


def select_locale() -> str:
    """The patient's choice, else the clinic's default, else English."""
    if not has_request_context() or not _portal_request() or g.get("tenant") is None:
        return "en"
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen
        _remember(chosen)
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


def _remember(lang: str) -> None:
    """A signed-in patient's switch becomes the language of their emails."""
    from .session import current_patient

    patient = current_patient()
    if patient is not None and patient.preferred_language != lang:
        patient.preferred_language = lang
