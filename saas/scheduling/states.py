"""The appointment's states, the verbs that move it, and who may use them when.

::

    book ─▶ held ─confirm─▶ confirmed ─check_in─▶ checked_in ─complete─▶ completed
             │ │               ├─complete (online visits skip check-in)─▶ completed
             │ │               ├─no_show─▶ no_show
             │ └─cancel──────▶ └─cancel─▶ cancelled
             │ (hold lapses)
             ▼
          expired ─confirm (if its time is still free)─▶ confirmed

    reschedule: a held or confirmed appointment moves to a new time in the same state.

Booking creates the appointment (``held`` when the visit type needs prepayment, else
``confirmed``) and the hold sweep expires lapsed holds (:mod:`.holds`); every other change
is one of :data:`ACTIONS`, described by one row of :data:`TRANSITIONS`.

Decisions:

- **One table, one check.** The verbs in :mod:`.services` call :func:`authorize` before
  changing anything, and :func:`allowed_actions` asks the same :func:`refusal` for every
  action, so the console, the portal and the API offer exactly the actions the verbs accept
  (``tests/scheduling/test_states.py`` holds them together).
- **Who.** Patients act only on their own appointments (another patient's is a 404, as
  everywhere) and may only cancel and reschedule; staff need ``appointments.manage``
  (:func:`saas.security.rbac.can`); system jobs may confirm a held booking (payment
  received: a payment webhook confirms through a job, since ``appointment_events`` records
  only patient, staff and system actors); operators never act on a clinic's appointments.
- **When.** Check-in opens two hours before the start; completion and no-show need the
  visit to have started; cancelling and rescheduling end when it starts (from then on it
  is checked in, completed or a no-show — so a late-cancellation fee cannot be dodged by a
  cancellation after the fact). Patients also reschedule only before the clinic's
  reschedule cutoff; inside the cancellation cutoff they may still cancel, as a late
  cancellation with the fee.
- **Why, in order.** A refusal names the first rule broken: who (403, or 404), state (409
  ``invalid_state``), time (422 ``too_early``, ``not_started``, ``already_started``,
  ``reschedule_cutoff_passed``). Input problems (a missing reason, a taken slot) are the
  verbs' own and come after.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import object_session

from saas.actors import Actor
from saas.exceptions import DomainError, Forbidden, not_found
from saas.models import utcnow
from saas.security.rbac import can

from .messages import refuse
from .models import Appointment
from .rules import EffectiveRules, effective_rules

#: The permission staff need for every action.
STAFF_PERMISSION = "appointments.manage"
#: Staff may check a patient in from this long before the visit.
CHECK_IN_EARLIEST = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Transition:
    """One verb: the states it moves from and to, who may use it, and when."""

    #: Effective states (a lapsed hold counts as ``expired``) the verb accepts.
    sources: tuple[str, ...]
    #: The state it leaves the appointment in (None: unchanged, as for a move).
    target: str | None
    #: Patients may use it on their own appointments.
    patients: bool = False
    #: Actor kinds besides staff and patients that may use it.
    others: frozenset[str] = frozenset()
    #: Allowed from this long before the start on (None: no earliest time) ...
    opens: dt.timedelta | None = None
    #: ... refused before that with this reason.
    early_reason: str = "not_started"
    #: Allowed only before the visit starts.
    before_start: bool = False
    #: For patients, also only before ``start - <this booking rule, in minutes>``.
    patient_cutoff: str | None = None


TRANSITIONS: dict[str, Transition] = {
    "confirm": Transition(("held", "expired"), "confirmed", others=frozenset({"system"})),
    "check_in": Transition(
        ("confirmed",), "checked_in", opens=CHECK_IN_EARLIEST, early_reason="too_early"
    ),
    "complete": Transition(("confirmed", "checked_in"), "completed", opens=dt.timedelta(0)),
    "no_show": Transition(("confirmed",), "no_show", opens=dt.timedelta(0)),
    "cancel": Transition(("held", "confirmed"), "cancelled", patients=True, before_start=True),
    "reschedule": Transition(
        ("held", "confirmed"),
        None,
        patients=True,
        before_start=True,
        patient_cutoff="reschedule_cutoff_minutes",
    ),
}
ACTIONS = tuple(TRANSITIONS)


def _who(action: str, t: Transition, appt: Appointment, actor: Actor) -> DomainError | None:
    if actor.kind == "patient":
        if appt.patient_id != actor.id:
            return not_found("appointment")
        if not t.patients:
            return Forbidden(f"Patients cannot {action.replace('_', ' ')} an appointment.")
        return None
    if actor.kind == "staff":
        if not can(actor.role, STAFF_PERMISSION):
            return Forbidden(f"Your role does not allow {STAFF_PERMISSION}.")
        return None
    if actor.kind not in t.others:
        return Forbidden(f"A {actor.kind.replace('_', ' ')} cannot do this.")
    return None


def _when(
    t: Transition,
    appt: Appointment,
    actor: Actor,
    now: dt.datetime,
    rules: EffectiveRules | None,
) -> DomainError | None:
    start = appt.start_at
    if t.opens is not None and now < start - t.opens:
        return refuse(t.early_reason)
    if t.before_start and start <= now:
        return refuse("already_started")
    if t.patient_cutoff and actor.kind == "patient":
        rules = rules or effective_rules(object_session(appt), appt.tenant_id, appt.service_id)
        if start - now < dt.timedelta(minutes=getattr(rules, t.patient_cutoff)):
            return refuse("reschedule_cutoff_passed")
    return None


def refusal(
    action: str,
    appt: Appointment,
    actor: Actor,
    now: dt.datetime,
    *,
    rules: EffectiveRules | None = None,
) -> DomainError | None:
    """Why ``actor`` may not ``action`` ``appt`` at ``now``, or None when they may.

    ``rules`` are the visit type's effective booking rules (loaded when needed and not given).
    """
    t = TRANSITIONS[action]
    if (problem := _who(action, t, appt, actor)) is not None:
        return problem
    status = appt.effective_status(now)
    if status not in t.sources:
        return refuse(
            "invalid_state",
            f"This appointment is {status.replace('_', ' ')}; it cannot be changed this way.",
        )
    return _when(t, appt, actor, now, rules)


def authorize(
    action: str,
    appt: Appointment,
    actor: Actor,
    now: dt.datetime,
    *,
    rules: EffectiveRules | None = None,
) -> str:
    """Raise the refusal for ``action``, if any; else the state the appointment leaves."""
    if (problem := refusal(action, appt, actor, now, rules=rules)) is not None:
        raise problem
    return appt.effective_status(now)


def allowed_actions(
    appt: Appointment,
    actor: Actor,
    now: dt.datetime | None = None,
    *,
    rules: EffectiveRules | None = None,
) -> set[str]:
    """The actions of :data:`ACTIONS` that ``actor`` may take on ``appt`` now.

    Pages show only these buttons and the API lists them (``allowed_actions``); the verbs
    would refuse every other action.
    """
    now = now or utcnow()
    return {a for a in ACTIONS if refusal(a, appt, actor, now, rules=rules) is None}
