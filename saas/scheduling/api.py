"""The appointments API, for patients and staff alike: ``/api/v1/appointments`` and the waitlist.

One blueprint serves every appointment endpoint on the clinic's host. A caller is either a
patient (portal token ``simp_...``: their own appointments only, as a 404 for anyone
else's) or a staff member whose role holds the route's permission (``schedule.view`` to
read, ``appointments.manage`` to change). Which actions each of them may take on an
appointment, in which state and when, is :mod:`saas.scheduling.states`' table: the
lifecycle routes admit patients exactly where it lets patients act (cancel, reschedule),
the verbs apply it in full, and every appointment returned lists the caller's
``allowed_actions``.

Decisions:

- A staff-only route (confirm, check-in, complete, no-show, history) does not accept a
  patient token at all: it answers 401 as for any token it does not take.
- The staff schedule is listed over at most 62 days (:data:`~.queries.MAX_RANGE`), from
  today in the clinic's zone for a week by default; a patient's own list is the latest 200.
- Views only parse, call a verb and present; the request owns the transaction (see
  :mod:`saas.db`) and refusals are domain errors answered by :mod:`saas.errors`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from saas import db
from saas.actors import Actor
from saas.exceptions import Forbidden, Invalid, not_found
from saas.models import Patient, utcnow
from saas.patients import get_patient_in_tenant
from saas.web import CLINIC, serve_on

from . import waitlist
from .access import access_appointment, authenticated, current_actor
from .feeds import appointment_calendar
from .history import appointment_history
from .models import Appointment, WaitlistEntry
from .queries import bounded_range
from .schemas import (
    AppointmentEventSchema,
    AppointmentListQuerySchema,
    AppointmentSchema,
    BookingSchema,
    CancelSchema,
    ConfirmSchema,
    RescheduleSchema,
    WaitlistEntrySchema,
    WaitlistJoinSchema,
    present_appointments,
)
from .services import VERBS, book_appointment
from .slots import local_to_utc
from .states import STAFF_PERMISSION, TRANSITIONS

blp = Blueprint(
    "appointments_api",
    __name__,
    url_prefix="/api/v1",
    description="Appointments and the waitlist: patients (their own) and staff alike",
)
serve_on(blp, CLINIC)

MANAGE, VIEW = STAFF_PERMISSION, "schedule.view"


def _present(appt: Appointment, actor: Actor) -> dict:
    return present_appointments(db.session, g.tenant.id, [appt], actor)[0]


def _patient_for(actor: Actor, patient_id) -> Patient:
    """The patient an action is for: the signed-in patient, or the one staff named."""
    if actor.kind == "patient":
        if patient_id is not None and patient_id != actor.id:
            raise Forbidden("Patients can only act for themselves.")
        return actor.patient
    if patient_id is None:
        raise Invalid("Name the patient.", errors={"patient_id": "Required for staff."})
    patient = get_patient_in_tenant(db.session, g.tenant, patient_id)
    if patient is None or patient.status != "active":
        raise not_found("patient", "patient_id")
    return patient


def _act(action: str, appointment_id: uuid.UUID, **kwargs) -> dict:
    """Run the verb of ``action`` on the caller's appointment and present the result."""
    actor = current_actor()
    appt = access_appointment(actor, appointment_id, for_update=True)
    VERBS[action](db.session, g.tenant, actor, appt, **kwargs)
    return _present(appt, actor)


def _lifecycle(action: str):
    """The guard of a lifecycle route: patients only where :data:`TRANSITIONS` lets them."""
    return authenticated(MANAGE, patients=TRANSITIONS[action].patients)


# -- booking and listing -------------------------------------------------------------------------


@blp.route("/appointments")
class Appointments(MethodView):
    """Appointments: book, and list (a patient's own, or the clinic's schedule for staff)."""

    @authenticated(MANAGE)
    @blp.arguments(BookingSchema)
    @blp.response(201, AppointmentSchema)
    @blp.alt_response(409, description="reason slot_taken: someone else got this time first")
    @blp.alt_response(422, description="reason too_soon, too_far_ahead, outside_availability, ...")
    def post(self, data):
        """Book a free start for yourself (patient) or for a patient (staff)."""
        actor = current_actor()
        appt = book_appointment(
            db.session,
            g.tenant,
            actor,
            patient=_patient_for(actor, data.get("patient_id")),
            service_id=data["service_id"],
            practitioner_id=data["practitioner_id"],
            location_id=data["location_id"],
            start=data["start"],
        )
        return _present(appt, actor)

    @authenticated(VIEW)
    @blp.arguments(AppointmentListQuerySchema, location="query")
    @blp.response(200, AppointmentSchema(many=True))
    def get(self, args):
        """A patient's own appointments, or the clinic's schedule in a range (staff, ≤ 62 days)."""
        actor = current_actor()
        a = Appointment
        q = select(a).where(a.tenant_id == g.tenant.id)
        if actor.kind == "patient":
            q = q.where(a.patient_id == actor.id)
            if "start" in args:
                q = q.where(a.start_at >= args["start"])
            if "end" in args:
                q = q.where(a.start_at < args["end"])
            q = q.order_by(a.start_at.desc()).limit(200)
        else:
            zone = ZoneInfo(g.tenant.timezone)
            start = args.get("start") or local_to_utc(
                dt.datetime.combine(utcnow().astimezone(zone).date(), dt.time()), zone
            )
            start, end = bounded_range(start, args.get("end") or start + dt.timedelta(days=7))
            q = q.where(a.start_at >= start, a.start_at < end)
            for key, column in (
                ("practitioner_id", a.practitioner_id),
                ("location_id", a.location_id),
                ("patient_id", a.patient_id),
                ("status", a.status),
            ):
                if key in args:
                    q = q.where(column == args[key])
            q = q.order_by(a.start_at).limit(2000)
        return present_appointments(db.session, g.tenant.id, list(db.session.scalars(q)), actor)


@blp.route("/appointments/<uuid:appointment_id>")
class AppointmentItem(MethodView):
    """One appointment."""

    @authenticated(VIEW)
    @blp.response(200, AppointmentSchema)
    def get(self, appointment_id: uuid.UUID):
        """Show an appointment (patients: only their own)."""
        actor = current_actor()
        return _present(access_appointment(actor, appointment_id), actor)


@blp.route("/appointments/<uuid:appointment_id>/calendar.ics")
class AppointmentIcs(MethodView):
    """An appointment as a calendar file."""

    @authenticated(VIEW)
    @blp.response(200, content_type="text/calendar")
    def get(self, appointment_id: uuid.UUID):
        """Download the appointment as ``.ics`` to add it to a calendar."""
        actor = current_actor()
        appt = access_appointment(actor, appointment_id)
        body = appointment_calendar(db.session, g.tenant, appt, for_patient=actor.kind == "patient")
        return Response(
            body,
            mimetype="text/calendar",
            headers={"Content-Disposition": f'attachment; filename="appointment-{appt.id}.ics"'},
        )


@blp.route("/appointments/<uuid:appointment_id>/history")
class History(MethodView):
    """Every transition of an appointment, oldest first."""

    @authenticated(VIEW, patients=False)
    @blp.response(200, AppointmentEventSchema(many=True))
    def get(self, appointment_id: uuid.UUID):
        """The appointment's history: who did what, when, and from which time to which (staff)."""
        appt = access_appointment(current_actor(), appointment_id)
        return appointment_history(db.session, g.tenant.id, appt.id)


# -- lifecycle (who may do what, when: saas.scheduling.states) ----------------------------------


@blp.route("/appointments/<uuid:appointment_id>/reschedule")
class Reschedule(MethodView):
    """Move an appointment."""

    @_lifecycle("reschedule")
    @blp.arguments(RescheduleSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Move to a new free start (patients: before the reschedule cutoff)."""
        return _act(
            "reschedule",
            appointment_id,
            start=data["start"],
            practitioner_id=data.get("practitioner_id"),
            location_id=data.get("location_id"),
        )


@blp.route("/appointments/<uuid:appointment_id>/cancel")
class Cancel(MethodView):
    """Cancel an appointment."""

    @_lifecycle("cancel")
    @blp.arguments(CancelSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Cancel (patients: a late cancellation records the clinic's fee; staff: give a reason)."""
        staff = current_actor().kind == "staff"
        return _act(
            "cancel",
            appointment_id,
            reason=data.get("reason"),
            charge_fee=staff and data.get("charge_late_fee", False),
        )


@blp.route("/appointments/<uuid:appointment_id>/confirm")
class Confirm(MethodView):
    """Record payment of a held booking."""

    @_lifecycle("confirm")
    @blp.arguments(ConfirmSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Mark a held booking paid: it becomes confirmed (a lapsed hold re-claims free time)."""
        return _act("confirm", appointment_id, payment_ref=data.get("payment_ref"))


@blp.route("/appointments/<uuid:appointment_id>/check-in")
class CheckIn(MethodView):
    """The patient has arrived."""

    @_lifecycle("check_in")
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Check the patient in (from two hours before the visit)."""
        return _act("check_in", appointment_id)


@blp.route("/appointments/<uuid:appointment_id>/complete")
class Complete(MethodView):
    """The visit took place."""

    @_lifecycle("complete")
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Mark the visit completed (shows the suggested follow-up window)."""
        return _act("complete", appointment_id)


@blp.route("/appointments/<uuid:appointment_id>/no-show")
class NoShow(MethodView):
    """The patient did not come."""

    @_lifecycle("no_show")
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Record a no-show (and the clinic's no-show fee)."""
        return _act("no_show", appointment_id)


# -- waitlist ----------------------------------------------------------------------------------


@blp.route("/waitlist")
class Waitlist(MethodView):
    """The waitlist."""

    @authenticated(MANAGE)
    @blp.arguments(WaitlistJoinSchema)
    @blp.response(201, WaitlistEntrySchema)
    def post(self, data):
        """Wait for a sooner slot of a visit type; you get an offer when one frees up."""
        actor = current_actor()
        patient = _patient_for(actor, data.pop("patient_id", None))
        return waitlist.join_waitlist(db.session, g.tenant, actor, patient, **data)

    @authenticated(VIEW)
    @blp.response(200, WaitlistEntrySchema(many=True))
    def get(self):
        """Your waitlist entries (patients), or everyone waiting (staff)."""
        actor = current_actor()
        q = select(WaitlistEntry).where(WaitlistEntry.tenant_id == g.tenant.id)
        if actor.kind == "patient":
            q = q.where(WaitlistEntry.patient_id == actor.id)
        else:
            q = q.where(WaitlistEntry.status == "waiting")
        return db.session.scalars(q.order_by(WaitlistEntry.created_at).limit(500)).all()


@blp.route("/waitlist/<uuid:entry_id>")
class WaitlistItem(MethodView):
    """One waitlist entry."""

    @authenticated(MANAGE)
    @blp.response(204)
    def delete(self, entry_id: uuid.UUID):
        """Leave the waitlist."""
        actor = current_actor()
        entry = waitlist.get_waitlist_entry_in_tenant(db.session, g.tenant.id, entry_id)
        if entry is None or (actor.kind == "patient" and entry.patient_id != actor.id):
            raise not_found("waitlist entry")
        waitlist.leave_waitlist(db.session, g.tenant, actor, entry)
