"""Online booking API on the clinic's host.

Public: the catalogue (visit types, practitioners, locations) and free slots. Signed in
(patient portal token, or staff token with ``appointments.manage`` booking for a patient):
book, list, show, reschedule, cancel, download an ``.ics``, and the waitlist.

Decisions: slot ranges are bounded (:data:`MAX_RANGE`, 62 days) so one request costs at most
two months of one clinic's calendar; ``from``/``to`` given as dates are whole days in the
clinic's zone (``to`` inclusive); times in responses carry the location's UTC offset.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from zoneinfo import ZoneInfo

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from saas import db
from saas.extensions import limiter
from saas.models import utcnow
from saas.patients import get_patient_in_tenant
from saas.scheduling import services, waitlist
from saas.scheduling.access import (
    access_appointment,
    authenticated,
    check_presented_credentials,
    current_actor,
)
from saas.scheduling.errors import SchedulingError, abort_with
from saas.scheduling.feeds import appointment_calendar
from saas.scheduling.models import Appointment, Location, Practitioner, VisitType, WaitlistEntry
from saas.scheduling.practice import visit_type_links
from saas.scheduling.queries import search_slots
from saas.scheduling.schemas import AppointmentSchema, WaitlistEntrySchema, present_appointments
from saas.scheduling.slots import local_to_utc

from .booking_schemas import (
    AppointmentListQuerySchema,
    BookingSchema,
    CancelSchema,
    PublicLocationSchema,
    PublicPractitionerSchema,
    PublicVisitTypeSchema,
    RescheduleSchema,
    SlotQuerySchema,
    SlotsSchema,
    WaitlistJoinSchema,
)

blp = Blueprint("booking_api", __name__, url_prefix="/api/v1", description="Online booking")


def public(view):
    """A public route: no token needed, but a token that is sent must be valid here."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        check_presented_credentials()
        return view(*args, **kwargs)

    return wrapped


MAX_RANGE = dt.timedelta(days=62)
MANAGE, VIEW = "appointments.manage", "schedule.view"


def _instant(value, zone: ZoneInfo, *, end: bool) -> dt.datetime:
    """A query bound as an instant: dates are local midnights (an end date includes its day)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else local_to_utc(value, zone)
    day = value + dt.timedelta(days=1) if end else value
    return local_to_utc(dt.datetime.combine(day, dt.time()), zone)


def _bounded_range(start, end, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    if end <= start:
        abort(
            422,
            message="The end of the range must be after its start.",
            reason="invalid_range",
            errors={"query": {"to": ["Must be after 'from'."]}},
        )
    if end - start > MAX_RANGE:
        abort(
            422,
            message=f"Search at most {MAX_RANGE.days} days at a time.",
            reason="range_too_long",
            errors={"query": {"to": [f"At most {MAX_RANGE.days} days after 'from'."]}},
        )
    return start, end


def _present(appts: list[Appointment], actor) -> list[dict]:
    return present_appointments(db.session, g.tenant.id, appts, include_patient=actor.is_staff)


def _patient_for(actor, patient_id):
    """The patient an action is for: the signed-in patient, or the one staff named."""
    if actor.kind == "patient":
        if patient_id is not None and patient_id != actor.id:
            abort(403, message="Patients can only act for themselves.")
        return actor.patient
    if patient_id is None:
        abort(
            422,
            message="Name the patient.",
            errors={"json": {"patient_id": ["Required for staff."]}},
        )
    patient = get_patient_in_tenant(db.session, g.tenant, patient_id)
    if patient is None or patient.status != "active":
        abort(
            404, message="No such patient.", errors={"json": {"patient_id": ["Unknown patient."]}}
        )
    return patient


# -- public catalogue and slots ----------------------------------------------------------------


@blp.route("/slots")
class Slots(MethodView):
    """Free start times."""

    decorators = [limiter.limit("300/minute")]

    @public
    @blp.arguments(SlotQuerySchema, location="query")
    @blp.response(200, SlotsSchema)
    def get(self, args):
        """Free starts of a visit type in a range of at most 62 days, by practitioner and place."""
        zone = ZoneInfo(g.tenant.timezone)
        start, end = _bounded_range(
            _instant(args["start"], zone, end=False), _instant(args["end"], zone, end=True), zone
        )
        try:
            found = search_slots(
                db.session,
                g.tenant.id,
                args["service_id"],
                start,
                end,
                practitioner_id=args.get("practitioner_id"),
                location_id=args.get("location_id"),
            )
        except SchedulingError as exc:
            abort_with(exc, location="query")
        groups: dict = {}
        for o in found.offerings:
            groups[(o.practitioner_id, o.location_id)] = {
                "practitioner": {"id": o.practitioner_id, "display_name": o.practitioner_name},
                "location": {
                    "id": o.location_id,
                    "name": o.location_name,
                    "kind": o.location_kind,
                    "timezone": o.timezone,
                },
                "starts": [],
            }
        for slot in found.slots:
            groups[(slot.practitioner_id, slot.location_id)]["starts"].append(
                slot.start.isoformat()
            )
        return {
            "service": found.service,
            "timezone": g.tenant.timezone,
            "start": start.astimezone(zone).isoformat(),
            "end": end.astimezone(zone).isoformat(),
            "count": len(found.slots),
            "groups": list(groups.values()),
        }


@blp.route("/services")
class PublicServices(MethodView):
    """Bookable visit types."""

    @public
    @blp.response(200, PublicVisitTypeSchema(many=True))
    def get(self):
        """Active visit types with who offers them where."""
        rows = db.session.scalars(
            select(VisitType)
            .where(VisitType.tenant_id == g.tenant.id, VisitType.is_active.is_(True))
            .order_by(VisitType.name)
        ).all()
        out = []
        for s in rows:
            practitioner_ids, location_ids = visit_type_links(db.session, g.tenant.id, s.id)
            out.append(
                {
                    **{
                        k: getattr(s, k)
                        for k in PublicVisitTypeSchema._declared_fields
                        if hasattr(s, k)
                    },
                    "practitioner_ids": practitioner_ids,
                    "location_ids": location_ids,
                }
            )
        return out


@blp.route("/practitioners")
class PublicPractitioners(MethodView):
    """The clinic's practitioners."""

    @public
    @blp.response(200, PublicPractitionerSchema(many=True))
    def get(self):
        """Active practitioners' public profiles."""
        return db.session.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == g.tenant.id, Practitioner.is_active.is_(True))
            .order_by(Practitioner.display_name)
        ).all()


@blp.route("/locations")
class PublicLocations(MethodView):
    """Where patients are seen."""

    @public
    @blp.response(200, PublicLocationSchema(many=True))
    def get(self):
        """Active locations."""
        return db.session.scalars(
            select(Location)
            .where(Location.tenant_id == g.tenant.id, Location.is_active.is_(True))
            .order_by(Location.name)
        ).all()


# -- appointments ------------------------------------------------------------------------------


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
        patient = _patient_for(actor, data.get("patient_id"))
        try:
            appt = services.book_appointment(
                db.session,
                g.tenant,
                actor,
                patient=patient,
                service_id=data["service_id"],
                practitioner_id=data["practitioner_id"],
                location_id=data["location_id"],
                start=data["start"],
            )
        except SchedulingError as exc:
            abort_with(exc)
        body = _present([appt], actor)[0]  # in the same transaction: no extra round trips
        db.session.commit()
        return body

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
            end = args.get("end") or start + dt.timedelta(days=7)
            _bounded_range(start, end, zone)
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
        return _present(list(db.session.scalars(q)), actor)


@blp.route("/appointments/<uuid:appointment_id>")
class AppointmentItem(MethodView):
    """One appointment."""

    @authenticated(VIEW)
    @blp.response(200, AppointmentSchema)
    def get(self, appointment_id: uuid.UUID):
        """Show an appointment (patients: only their own)."""
        actor = current_actor()
        return _present([access_appointment(actor, appointment_id)], actor)[0]


@blp.route("/appointments/<uuid:appointment_id>/reschedule")
class Reschedule(MethodView):
    """Move an appointment."""

    @authenticated(MANAGE)
    @blp.arguments(RescheduleSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Move to a new free start (patients: before the reschedule cutoff)."""
        actor = current_actor()
        appt = access_appointment(actor, appointment_id, for_update=True)
        try:
            services.reschedule_appointment(
                db.session,
                g.tenant,
                actor,
                appt,
                start=data["start"],
                practitioner_id=data.get("practitioner_id"),
                location_id=data.get("location_id"),
            )
        except SchedulingError as exc:
            abort_with(exc)
        body = _present([appt], actor)[0]  # in the same transaction: no extra round trips
        db.session.commit()
        return body


@blp.route("/appointments/<uuid:appointment_id>/cancel")
class Cancel(MethodView):
    """Cancel an appointment."""

    @authenticated(MANAGE)
    @blp.arguments(CancelSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Cancel (patients: a late cancellation records the clinic's fee; staff: give a reason)."""
        actor = current_actor()
        appt = access_appointment(actor, appointment_id, for_update=True)
        try:
            services.cancel_appointment(
                db.session,
                g.tenant,
                actor,
                appt,
                reason=data.get("reason"),
                charge_fee=actor.kind == "staff" and data.get("charge_late_fee", False),
            )
        except SchedulingError as exc:
            abort_with(exc)
        body = _present([appt], actor)[0]  # in the same transaction: no extra round trips
        db.session.commit()
        return body


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
        try:
            entry = waitlist.join_waitlist(db.session, g.tenant, actor, patient, **data)
        except SchedulingError as exc:
            abort_with(exc)
        db.session.commit()
        return entry

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
            abort(404, message="No such waitlist entry.")
        try:
            waitlist.leave_waitlist(db.session, g.tenant, actor, entry)
        except SchedulingError as exc:
            abort_with(exc)
        db.session.commit()
