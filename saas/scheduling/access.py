"""Who is calling the scheduling API: a patient (portal token) or a staff member.

``request_actor`` accepts either kind of bearer token on the clinic's host: a patient
portal token (``simp_...``) acts for that patient only; a staff token must carry the given
permission. ``access_appointment`` gives the same 404 for "missing" and "not yours", so a
patient cannot probe other patients' (or clinics') appointment ids. Refusals are domain
errors (:mod:`saas.exceptions`), answered by :mod:`saas.errors` like any other.
"""

from __future__ import annotations

import functools

from flask import g, request

from saas import db
from saas.actors import Actor
from saas.exceptions import Forbidden, Unauthenticated, not_found
from saas.patients import TOKEN_PREFIX, authenticate_patient_bearer
from saas.security.rbac import can
from saas.security.tokens import authenticate_bearer

from .models import Appointment
from .queries import get_appointment_in_tenant

SIGN_IN = "Sign in: send a valid bearer token."


def _is_patient_token() -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and value.strip().startswith(TOKEN_PREFIX)


def request_actor(staff_permission: str, *, patients: bool = True) -> Actor:
    """The caller of this API request; :class:`Unauthenticated` or :class:`Forbidden` else.

    With ``patients=False`` (staff-only routes) a patient token is not accepted at all: it is
    answered like a missing staff token (401).
    """
    if _is_patient_token():
        patient = authenticate_patient_bearer() if patients else None
        if patient is None:
            raise Unauthenticated(SIGN_IN if patients else "Sign in with a staff account's token.")
        return Actor.for_patient(patient)
    user = authenticate_bearer()
    if user is None:
        raise Unauthenticated(SIGN_IN)
    if not can(user.role, staff_permission):
        raise Forbidden(f"Your role does not allow {staff_permission}.")
    return Actor.for_staff(user)


def check_presented_credentials() -> None:
    """On public routes: a bearer token, if one is sent, must be valid on this host (else 401).

    Public data needs no token, but silently ignoring a foreign or expired one would hide
    a client's mistake (and answer clinic B's data to a request made with clinic A's token).
    """
    if not request.headers.get("Authorization"):
        return
    if _is_patient_token():
        authenticate_patient_bearer()
    elif authenticate_bearer() is None:
        raise Unauthenticated("The bearer token is invalid.")


def staff_actor() -> Actor:
    """The staff member already authenticated by ``rbac.requires``."""
    return Actor.for_staff(g.api_user)


def access_appointment(actor: Actor, appointment_id, *, for_update: bool = False) -> Appointment:
    """The appointment if ``actor`` may see it; 404 otherwise (missing or not theirs)."""
    appt = get_appointment_in_tenant(db.session, g.tenant.id, appointment_id, for_update=for_update)
    if appt is None or (actor.kind == "patient" and appt.patient_id != actor.id):
        raise not_found("appointment")
    return appt


def authenticated(staff_permission: str, *, patients: bool = True):
    """Guard an API view for patients (unless ``patients=False``) and staff with a permission.

    Sets ``g.actor`` before the body is parsed: put it outermost (above ``blp.arguments``)
    so an unauthenticated call gets 401, not 422.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            g.actor = request_actor(staff_permission, patients=patients)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def current_actor() -> Actor:
    """The actor set by :func:`authenticated`."""
    return g.actor
