"""Role-based access control: one permission table, one decorator for pages and the API.

Decisions: owners can do everything; admins everything but ownership transfer and billing;
practitioners run their schedule and keep clinical records; receptionists handle patients'
demographics and appointments and never see clinical content.
"""

from __future__ import annotations

import functools

from flask import g, redirect, request, url_for
from flask_login import current_user

from ..exceptions import Forbidden, Unauthenticated

ALL = frozenset(
    {
        "console.view",
        "staff.view",
        "staff.invite",
        "staff.manage",
        "staff.manage_owners",
        "audit.view",
        "settings.manage",
        "billing.manage",
        "practice.manage",
        "schedule.view",
        "appointments.manage",
        "patients.view",
        "patients.manage",
        "clinical.read",
        "clinical.write",
        "records.export",
        "patients.erase",
    }
)

# records.export / patients.erase (GDPR requests) are owner/admin duties; reading clinical
# content on top of the coarse clinical.* permissions is decided per clinic by
# saas.records.policy (admins have no clinical access unless the owner grants it).
PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": ALL,
    "admin": ALL - {"billing.manage", "staff.manage_owners"},
    "practitioner": frozenset(
        {
            "console.view",
            "staff.view",
            "schedule.view",
            "appointments.manage",
            "patients.view",
            "patients.manage",
            "clinical.read",
            "clinical.write",
        }
    ),
    "receptionist": frozenset(
        {
            "console.view",
            "staff.view",
            "schedule.view",
            "appointments.manage",
            "patients.view",
            "patients.manage",
        }
    ),
}


def can(role: str | None, permission: str) -> bool:
    """True when ``role`` holds ``permission``."""
    if permission not in ALL:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in PERMISSIONS.get(role or "", frozenset())


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
