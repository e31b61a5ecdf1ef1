"""The runtime that actors run in: :func:`saas.runtime.build_runtime`, built once per process.

Not the web app: no blueprint is imported, so a broken page cannot stop a worker.
"""

from __future__ import annotations

import functools

from flask import Flask

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

        _app = build_runtime(name="similia-worker")
    return _app


def in_app(fn):
    """Run the actor body inside the runtime's app context."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with get_app().app_context():
            return fn(*args, **kwargs)

    return wrapped
