"""The app the factories work in, and their common base class.

The session's ``app`` fixture binds itself here (:func:`bind`), so a factory call needs no
app argument; a test that runs a second app (another config) passes ``app=`` to a factory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import factory

_bound = None


def bind(app) -> None:
    """Make ``app`` the one factories use (the ``app`` fixture does this)."""
    global _bound
    _bound = app


def current_app(app=None):
    """``app`` if given, else the bound one."""
    app = app or _bound
    if app is None:
        raise RuntimeError("factories need the app: request the `app` fixture in this test")
    return app


@contextlib.contextmanager
def clinic_session(app, clinic_id) -> Iterator:
    """A session bound to one clinic (RLS) inside ``app``; commits on success."""
    from saas.db import tenant_session

    with app.app_context(), tenant_session(clinic_id) as sess:
        yield sess


class ServiceFactory(factory.Factory):
    """A factory whose ``create`` goes through the real services (or API), never raw rows.

    Subclasses implement ``_make(app, **fields)``. ``build`` is refused: an object that
    skipped the service (no Vault key, no sealed fields, no audit entry) would mislead.
    """

    class Meta:
        abstract = True
        strategy = factory.CREATE_STRATEGY

    @classmethod
    def _create(cls, model_class, *args, app=None, **fields):
        return cls._make(current_app(app), **fields)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError(f"{cls.__name__} only creates (through the services); use create()")

    @classmethod
    def _make(cls, app, **fields):  # pragma: no cover - abstract
        raise NotImplementedError
