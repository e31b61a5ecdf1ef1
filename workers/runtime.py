"""The Flask app that actors run in (built once per worker process)."""

from __future__ import annotations

import functools

from flask import Flask

_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Run actors inside ``app`` (tests hand in the app they built)."""
    global _app
    _app = app


def get_app() -> Flask:
    """The worker's app, created from the environment on first use."""
    global _app
    if _app is None:
        from saas.app import create_app

        _app = create_app()
    return _app


def in_app(fn):
    """Run the actor body inside an app context."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with get_app().app_context():
            return fn(*args, **kwargs)

    return wrapped
