"""The scheduling engine's refusals in the page's language.

The engine (:mod:`saas.scheduling.messages`) refuses with a stable ``reason`` and one
English message per reason, which the API returns as is. Portal pages show the message
for the reason from this table instead, through flask-babel, so a German page says why in
German. A refusal whose text is not the reason's standard one (a message written for the
case) keeps its own text; ``tests/portal/test_language.py`` checks that every reason the
engine knows has an entry here with the engine's English words.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from saas import errors
from saas.exceptions import DomainError
from saas.scheduling.messages import REFUSALS

MESSAGES = {
    "in_past": _l("This time has already passed."),
    "too_soon": _l("This time is too soon to book online. Choose a later time or call the clinic."),
    "too_far_ahead": _l("This time is too far ahead to book yet."),
    "outside_availability": _l("The practitioner does not see patients at this time and place."),
    "clinic_closed": _l("The clinic is closed at this time."),
    "slot_taken": _l("This time was just taken. Please choose another."),
    "patient_busy": _l("The patient already has an appointment at this time."),
    "service_not_offered": _l(
        "This visit type is not offered by this practitioner at this location."
    ),
    "new_patients_only": _l(
        "This visit type is for new patients. Please book a follow-up instead."
    ),
    "returning_patients_only": _l(
        "This visit type is for returning patients. Please book an initial consultation first."
    ),
    "reschedule_cutoff_passed": _l("It is too late to reschedule online. Please call the clinic."),
    "already_started": _l("This appointment has already started."),
    "not_started": _l("This appointment has not started yet."),
    "too_early": _l("It is too early to check in for this appointment."),
    "invalid_state": _l("This appointment cannot be changed this way in its current state."),
    "booking_limit": _l(
        "You already have as many upcoming appointments as this clinic allows online. "
        "Please call the clinic to book more."
    ),
    "hold_limit": _l(
        "You already have an appointment waiting for payment. Pay or cancel it first."
    ),
    "unchanged": _l("The new time is the same as the current one."),
}


def text(exc: DomainError) -> str:
    """What to tell the patient about ``exc``, in the page's language where it is known."""
    reason = getattr(exc, "reason", None)
    if reason in MESSAGES and not exc.errors:
        if exc.message == REFUSALS.get(reason) or reason == "invalid_state":
            return str(MESSAGES[reason])
    return " ".join(exc.errors.values()) or exc.message


def refused(exc: DomainError) -> str:
    """:func:`saas.errors.refused` (rolls back), with the message in the page's language."""
    errors.refused(exc)
    return text(exc)


def form_errors(form, exc: DomainError) -> str:
    """:func:`saas.errors.form_errors` (rolls back), with the message in the page's language."""
    errors.form_errors(form, exc)
    return text(exc)
