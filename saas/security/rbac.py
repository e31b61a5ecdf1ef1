"""Role-based access control: one permission table, one decorator for pages and the API.

The table and :func:`can` are in :mod:`saas.security.permissions` (usable by workers
without web imports); this module adds the request side: :func:`requires` and
:func:`current_actor`.
"""

from __future__ import annotations

import functools

from flask import g, redirect, request, url_for
from flask_login import current_user

from ..exceptions import Forbidden, Unauthenticated
from .permissions import ALL, PERMISSIONS, can  # noqa: F401 - the table, re-exported


def current_actor():
    """The signed-in staff user of this request: bearer token (API) or session (pages)."""
    if request.path.startswith("/api/"):
        return g.get("api_user")
    return current_user if current_user.is_authenticated else None


def requires(permission: str):
    """Guard a view: 401/redirect when not signed in, 403 when the role lacks ``permission``."""
    if permission not in ALL:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            is_api = request.path.startswith("/api/")
            if is_api:
                from .tokens import authenticate_bearer

                authenticate_bearer()
            actor = current_actor()
            if actor is None:
                if is_api:
                    raise Unauthenticated("Sign in: send a valid bearer token.")
                return redirect(url_for("auth.login", next=request.full_path))
            if not can(actor.role, permission):
                raise Forbidden(f"Your role does not allow {permission}.")
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator
