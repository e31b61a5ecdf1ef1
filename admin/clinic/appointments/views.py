"""The console's day view: a clinic's consultations for one day, with front-desk actions.

Times are shown in the clinic's time zone. Check-in, completion and no-show go through the
scheduling verbs (audited, outbox), so the page and the API behave the same; each row shows
only the buttons :func:`saas.scheduling.states.allowed_actions` allows the signed-in staff
member now (no check-in for next week's visit, no no-show before it starts). The page
shows patient names and visit types only, never clinical content, so receptionists use it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from admin.clinic import TEMPLATES
from saas import db
from saas.actors import Actor
from saas.errors import form_errors
from saas.exceptions import DomainError, not_found
from saas.inputs import FIRST_DAY, LAST_DAY
from saas.models import Patient, utcnow
from saas.scheduling.models import Appointment, Practitioner, VisitType
from saas.scheduling.queries import get_appointment_in_tenant
from saas.scheduling.services import VERBS
from saas.scheduling.states import allowed_actions
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

bp = Blueprint("day", __name__, url_prefix="/console/day", template_folder=TEMPLATES)
serve_on(bp, CLINIC)

#: The page's actions, in button order: URL slug -> (action, button label, what the flash says).
ACTIONS = {
    "check-in": ("check_in", "Check in", "checked in"),
    "complete": ("complete", "Seen", "marked as seen"),
    "no-show": ("no_show", "No-show", "marked as no-show"),
}
LISTED = ("held", "confirmed", "checked_in", "completed", "no_show", "cancelled")


class ActionForm(FlaskForm):
    """A front-desk action's button (CSRF only)."""


def clinic_today(tenant) -> dt.date:
    """Today's date in the clinic's time zone."""
    return dt.datetime.now(ZoneInfo(tenant.timezone)).date()


def appointments_on_day_in_tenant(
    sess, tenant, day: dt.date, actor: Actor | None = None
) -> list[dict]:
    """The clinic's appointments starting on ``day`` (clinic time), earliest first.

    With ``actor``, each row names the page's actions they may take on it now (URL slugs,
    in button order); without, no actions.
    """
    now = utcnow()
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
            "actions": _page_actions(appt, actor, now) if actor else [],
            "patient": patient,
            "practitioner": practitioner,
            "service": service,
            "local_start": appt.start_at.astimezone(zone),
            "local_end": appt.end_at.astimezone(zone),
        }
        for appt, patient, practitioner, service in rows
    ]


def _page_actions(appt: Appointment, actor: Actor, now: dt.datetime) -> list[str]:
    allowed = allowed_actions(appt, actor, now)
    return [slug for slug, (action, _, _) in ACTIONS.items() if action in allowed]


@bp.route("/")
@requires("schedule.view")
def day():
    """One day of consultations (``?date=YYYY-MM-DD``, default today)."""
    today = clinic_today(g.tenant)
    try:
        day = dt.date.fromisoformat(request.args["date"]) if request.args.get("date") else today
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(day)
    except ValueError:
        flash("That date was not understood; showing today.", "info")
        day = today
    return render_template(
        "admin/day.html",
        day=day,
        today=today,
        prev_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        rows=appointments_on_day_in_tenant(
            db.session, g.tenant, day, actor=Actor.for_staff(current_user)
        ),
        labels={slug: label for slug, (_, label, _) in ACTIONS.items()},
    )


@bp.route("/appointments/<uuid:appointment_id>/<action>", methods=["POST"])
@requires("appointments.manage")
def act(appointment_id: uuid.UUID, action: str):
    """Check in, complete or mark a no-show from the day view.

    A refusal (the page was stale: someone else acted first) is flashed on the day view.
    """
    if action not in ACTIONS:
        abort(404)
    appt = get_appointment_in_tenant(db.session, g.tenant.id, appointment_id, for_update=True)
    if appt is None:
        raise not_found("appointment")
    name, _, done = ACTIONS[action]
    form = ActionForm()
    try:
        VERBS[name](db.session, g.tenant, Actor.for_staff(current_user), appt)
    except DomainError as exc:
        flash(form_errors(form, exc), "error")
    else:
        flash(f"Appointment {done}.", "success")
    day = appt.start_at.astimezone(ZoneInfo(g.tenant.timezone)).date()
    return redirect(url_for("day.day", date=day.isoformat()))
