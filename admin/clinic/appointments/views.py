"""The console's day view: a clinic's consultations for one day, with front-desk actions.

Times are shown in the clinic's time zone. Check-in, completion and no-show go through the
scheduling services (audited, outbox), so the page and the API behave the same. The page
shows patient names and visit types only, never clinical content, so receptionists use it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from admin.clinic import TEMPLATES
from saas import db
from saas.models import Patient
from saas.scheduling import services as scheduling
from saas.scheduling.access import Actor
from saas.scheduling.errors import SchedulingError
from saas.scheduling.models import Appointment, Practitioner, VisitType
from saas.scheduling.queries import get_appointment_in_tenant
from saas.security.rbac import requires

bp = Blueprint("day", __name__, url_prefix="/console/day", template_folder=TEMPLATES)

ACTIONS = {
    "check-in": (scheduling.check_in, "checked in"),
    "complete": (scheduling.complete, "marked as seen"),
    "no-show": (scheduling.mark_no_show, "marked as no-show"),
}
LISTED = ("held", "confirmed", "checked_in", "completed", "no_show", "cancelled")


def clinic_today(tenant) -> dt.date:
    """Today's date in the clinic's time zone."""
    return dt.datetime.now(ZoneInfo(tenant.timezone)).date()


def appointments_on_day_in_tenant(sess, tenant, day: dt.date) -> list[dict]:
    """The clinic's appointments starting on ``day`` (clinic time), earliest first."""
    zone = ZoneInfo(tenant.timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    rows = sess.execute(
        select(Appointment, Patient.full_name, Practitioner.display_name, VisitType.name)
        .join(
            Patient,
            (Patient.tenant_id == Appointment.tenant_id) & (Patient.id == Appointment.patient_id),
        )
        .join(
            Practitioner,
            (Practitioner.tenant_id == Appointment.tenant_id)
            & (Practitioner.id == Appointment.practitioner_id),
        )
        .join(
            VisitType,
            (VisitType.tenant_id == Appointment.tenant_id)
            & (VisitType.id == Appointment.service_id),
        )
        .where(
            Appointment.tenant_id == tenant.id,
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(LISTED),
        )
        .order_by(Appointment.start_at, Practitioner.display_name)
    ).all()
    return [
        {
            "appt": appt,
            "patient": patient,
            "practitioner": practitioner,
            "service": service,
            "local_start": appt.start_at.astimezone(zone),
            "local_end": appt.end_at.astimezone(zone),
        }
        for appt, patient, practitioner, service in rows
    ]


@bp.route("/")
@requires("schedule.view")
def day():
    """One day of consultations (``?date=YYYY-MM-DD``, default today)."""
    today = clinic_today(g.tenant)
    try:
        day = dt.date.fromisoformat(request.args["date"]) if request.args.get("date") else today
    except ValueError:
        flash("That date was not understood; showing today.", "info")
        day = today
    return render_template(
        "admin/day.html",
        day=day,
        today=today,
        prev_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        rows=appointments_on_day_in_tenant(db.session, g.tenant, day),
    )


@bp.route("/appointments/<uuid:appointment_id>/<action>", methods=["POST"])
@requires("appointments.manage")
def act(appointment_id: uuid.UUID, action: str):
    """Check in, complete or mark a no-show from the day view."""
    if action not in ACTIONS:
        abort(404)
    appt = get_appointment_in_tenant(db.session, g.tenant.id, appointment_id, for_update=True)
    if appt is None:
        abort(404)
    verb, done = ACTIONS[action]
    try:
        verb(db.session, g.tenant, Actor.for_staff(current_user), appt)
    except SchedulingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"Appointment {done}.", "success")
    day = appt.start_at.astimezone(ZoneInfo(g.tenant.timezone)).date()
    return redirect(url_for("day.day", date=day.isoformat()))
