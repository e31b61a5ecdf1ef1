"""Front-desk API (staff): confirm payment, check in, complete, no-show, history.

Booking, rescheduling and cancelling on a patient's behalf use the same endpoints patients
use (``portal.booking_api``) with a staff token; these are the staff-only transitions.
"""

from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from saas import db
from saas.scheduling import services
from saas.scheduling.access import access_appointment, staff_actor
from saas.scheduling.errors import SchedulingError, abort_with
from saas.scheduling.models import AppointmentEvent
from saas.scheduling.schemas import AppointmentEventSchema, AppointmentSchema, present_appointments
from saas.security.rbac import requires

blp = Blueprint(
    "front_desk_api",
    __name__,
    url_prefix="/api/v1/appointments",
    description="Front desk: payment, check-in, completion, no-shows, history",
)

MANAGE, VIEW = "appointments.manage", "schedule.view"


class ConfirmSchema(Schema):
    """Payment received for a held booking."""

    payment_ref = fields.String(
        validate=validate.Length(max=120), metadata={"example": "cash desk #1042"}
    )


def _transition(verb, appointment_id: uuid.UUID, **kwargs) -> dict:
    actor = staff_actor()
    appt = access_appointment(actor, appointment_id, for_update=True)
    try:
        verb(db.session, g.tenant, actor, appt, **kwargs)
    except SchedulingError as exc:
        abort_with(exc)
    body = present_appointments(db.session, g.tenant.id, [appt], include_patient=True)[0]
    db.session.commit()
    return body


@blp.route("/<uuid:appointment_id>/confirm")
class Confirm(MethodView):
    """Record payment of a held booking."""

    @requires(MANAGE)
    @blp.arguments(ConfirmSchema)
    @blp.response(200, AppointmentSchema)
    def post(self, data, appointment_id: uuid.UUID):
        """Mark a held booking paid: it becomes confirmed (a lapsed hold re-claims free time)."""
        return _transition(
            services.confirm_appointment, appointment_id, payment_ref=data.get("payment_ref")
        )


@blp.route("/<uuid:appointment_id>/check-in")
class CheckIn(MethodView):
    """The patient has arrived."""

    @requires(MANAGE)
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Check the patient in (from two hours before the visit)."""
        return _transition(services.check_in, appointment_id)


@blp.route("/<uuid:appointment_id>/complete")
class Complete(MethodView):
    """The visit took place."""

    @requires(MANAGE)
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Mark the visit completed (shows the suggested follow-up window)."""
        return _transition(services.complete, appointment_id)


@blp.route("/<uuid:appointment_id>/no-show")
class NoShow(MethodView):
    """The patient did not come."""

    @requires(MANAGE)
    @blp.response(200, AppointmentSchema)
    def post(self, appointment_id: uuid.UUID):
        """Record a no-show (and the clinic's no-show fee)."""
        return _transition(services.mark_no_show, appointment_id)


@blp.route("/<uuid:appointment_id>/history")
class History(MethodView):
    """Every transition of an appointment, oldest first."""

    @requires(VIEW)
    @blp.response(200, AppointmentEventSchema(many=True))
    def get(self, appointment_id: uuid.UUID):
        """The appointment's history: who did what, when, and from which time to which."""
        appt = access_appointment(staff_actor(), appointment_id)
        return db.session.scalars(
            select(AppointmentEvent)
            .where(
                AppointmentEvent.tenant_id == g.tenant.id,
                AppointmentEvent.appointment_id == appt.id,
            )
            .order_by(AppointmentEvent.created_at, AppointmentEvent.id)
        ).all()
