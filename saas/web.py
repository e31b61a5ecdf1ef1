"""Where a surface is served: each blueprint (or app-level view) declares its host.

``serve_on(blueprint, CLINIC | PLATFORM | ANY | UNRESOLVED)`` marks it once, where it is
defined; :func:`tenants.resolve.resolve_tenant` reads the mark (:func:`host_of`) instead of
keeping lists of blueprint names.

- ``CLINIC`` (the default when nothing is declared): only on a clinic's host; 404 elsewhere.
- ``PLATFORM``: only on the bare base domain (signup, the operator console).
- ``ANY``: on both (the OpenAPI document; the front page, which dispatches on ``g.tenant``).
- ``UNRESOLVED``: no tenant resolution at all (health checks that load balancers call by IP).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request

CLINIC, PLATFORM, ANY, UNRESOLVED = "clinic", "platform", "any", "unresolved"
HOSTS = (CLINIC, PLATFORM, ANY, UNRESOLVED)
_ATTR = "similia_host"


def serve_on(target, where: str):
    """Declare where a blueprint or a view function is served; returns it (decorator-friendly)."""
    if where not in HOSTS:
        raise ValueError(f"unknown host kind {where!r}")
    setattr(target, _ATTR, where)
    return target


def host_of() -> str:
    """The declared host kind of this request's endpoint (view first, then its blueprint)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and hasattr(view, _ATTR):
        return getattr(view, _ATTR)
    blueprint = current_app.blueprints.get(request.blueprint or "")
    return getattr(blueprint, _ATTR, CLINIC)


_RECENT_ATTR = "similia_reads_recent"


def reads_recent(target):
    """Mark a public, read-only view that may answer from versions up to a second old.

    :func:`tenants.resolve.resolve_tenant` then resolves the clinic from the versions this
    process saw last (:func:`saas.db.lease`) instead of opening a transaction, so a page or
    an answer served from a cache costs no database round trip. Only for what anonymous
    visitors see; never for staff pages or writes.
    """
    setattr(target, _RECENT_ATTR, True)
    return target


def reading_recent() -> bool:
    """Whether this request's view is marked :func:`reads_recent` (class views too)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return False
    return bool(
        getattr(view, _RECENT_ATTR, False)
        or getattr(getattr(view, "view_class", None), _RECENT_ATTR, False)
    )


def safe_next(value: str | None, default: str) -> str:
    r"""``value`` when it is a relative path on this host, else ``default``.

    Refused: anything with a scheme or host, ``//`` (protocol-relative), a backslash
    (browsers read ``/\\host`` as ``//host``) and control characters (``/\t/host`` becomes
    ``//host`` once a browser drops the tab; CR/LF would split the header).
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
