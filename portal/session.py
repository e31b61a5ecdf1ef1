"""Patient sign-in on the portal pages: a cookie of its own, never the staff session.

The portal cookie (``similia_patient``) holds a patient session token (``simp_...``,
stored hashed, revocable, seven days) issued by :func:`saas.patients.sign_in_patient`.
Staff pages read only flask-login's session; portal pages read only this cookie. So a
staff member's cookie never authorises a portal action, and a patient's cookie never
opens the console.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from flask import current_app, g, redirect, request
from sqlalchemy import select

from saas import db
from saas.models import Patient, PatientToken, utcnow
from saas.patients import SESSION_TTL, TOKEN_PREFIX
from saas.security.secrets import digest

COOKIE = "similia_patient"


def current_patient() -> Patient | None:
    """The patient signed in on this clinic's portal, or None."""
    if "portal_patient" in g:
        return g.portal_patient
    g.portal_patient = None
    value = request.cookies.get(COOKIE, "")
    tenant = g.get("tenant")
    if tenant is None or not value.startswith(TOKEN_PREFIX) or len(value) > 200:
        return None
    row = db.session.execute(
        select(PatientToken, Patient)
        .join(
            Patient,
            (Patient.tenant_id == PatientToken.tenant_id) & (Patient.id == PatientToken.patient_id),
        )
        .where(
            PatientToken.tenant_id == tenant.id,
            PatientToken.token_hash == digest(value),
            PatientToken.purpose == "session",
            PatientToken.revoked_at.is_(None),
            PatientToken.expires_at > utcnow(),
        )
    ).first()
    if row is None or row[1].status != "active":
        return None
    g.portal_patient, g.portal_token = row[1], row[0]
    return row[1]


def remember(token: str) -> None:
    """Set the portal cookie on this response (after the request commits)."""
    g.portal_cookie = token


def forget() -> None:
    """Clear the portal cookie on this response."""
    g.portal_cookie = ""


def apply_cookie(response):
    """``after_request`` of the portal: write or clear the cookie the view asked for."""
    if "portal_cookie" not in g:
        return response
    secure = current_app.config.get("SESSION_COOKIE_SECURE", False)
    if g.portal_cookie:
        response.set_cookie(
            COOKIE,
            g.portal_cookie,
            max_age=int(SESSION_TTL.total_seconds()),
            httponly=True,
            secure=secure,
            samesite="Lax",
        )
    else:
        response.delete_cookie(COOKIE, httponly=True, secure=secure, samesite="Lax")
    return response


def patient_required(view):
    """Send a visitor without a portal session to sign in, then back here."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_patient() is None:
            target = request.full_path if request.query_string else request.path
            embed = "&embed=1" if request.args.get("embed") == "1" else ""
            return redirect(f"/sign-in?next={quote(target, safe='')}{embed}")
        return view(*args, **kwargs)

    return wrapped
