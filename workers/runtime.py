"""The runtime that actors run in: :func:`saas.runtime.build_runtime`, built once per process.

Not the web app: no blueprint is imported, so a broken page cannot stop a worker.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask

#: The messages' translations (the portal's catalogue, read as data: no portal import).
TRANSLATIONS = Path(__file__).resolve().parent.parent / "portal" / "translations"

_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Run actors inside ``app`` (tests hand in the app they built)."""
    global _app
    _app = app


def get_app() -> Flask:
    """The worker's runtime, created from the environment on first use."""
    global _app
    if _app is None:
        from saas.runtime import build_runtime

        app = build_runtime(name="similia-worker")
        _attach_babel(app)
        _app = app
    return _app


def _attach_babel(app: Flask) -> None:
    """flask-babel for the messages a worker writes in a patient's language.

    No request, so no locale selector: English unless a message forces one
    (:func:`saas.languages.force_locale`).
    """
    from flask_babel import Babel

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=lambda: None)


def in_app(fn):
    """Run the actor body inside the runtime's app context."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with get_app().app_context():
            return fn(*args, **kwargs)

    return wrapped
