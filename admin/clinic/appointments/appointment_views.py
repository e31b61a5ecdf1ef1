"""One appointment: its details, and exactly the actions the scheduling rules allow now.

Buttons come from :func:`saas.scheduling.states.allowed_actions` for the signed-in staff
member at this moment (a visit next week offers no check-in; one that has started offers
no cancellation); each action calls the same verb as the API
(:data:`saas.scheduling.services.VERBS`). A refusal (someone acted first) is shown as a
message and changes nothing.

Rescheduling offers the free times the slot engine finds for the visit's type on a chosen
day (any practitioner who offers it, or one), with the visit's own time not counted as
busy. The drag-and-drop of the calendar posts the same form after the user confirms.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from billing.services import payments_for_appointment
from saas import db
from saas.errors import form_errors, refused
from saas.exceptions import DomainError, Invalid
from saas.models import Patient, utcnow
from saas.money import format_price
from saas.scheduling.history import appointment_history
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.rules import effective_rules
from saas.scheduling.services import VERBS, cancel_appointment, reschedule_appointment
from saas.scheduling.states import allowed_actions
from saas.security.rbac import requires
from saas.web import safe_next

from . import queries
from .blueprint import (
    actor,
    appointment_or_404,
    bp,
    clinic_today,
    date_arg,
    local,
    redirect_to,
    when,
    zone,
)
from .forms import ActionForm, CancelForm, SlotForm

#: One-click actions: URL slug -> (verb, button label, what the confirmation says).
BUTTONS = {
    "confirm": ("confirm", "Confirm (payment received)", "confirmed"),
    "check-in": ("check_in", "Check in", "checked in"),
    "complete": ("complete", "Mark as seen", "marked as seen"),
    "no-show": ("no_show", "Mark as no-show", "marked as no-show"),
}
EVENT_LABELS = {
    "booked": "Booked",
    "confirmed": "Confirmed",
    "rescheduled": "Rescheduled",
    "cancelled": "Cancelled",
    "checked_in": "Checked in",
    "completed": "Completed",
    "no_show": "Marked as no-show",
    "hold_expired": "Hold expired",
}


def _parse_slot(value: str | None) -> tuple[dt.datetime, uuid.UUID, uuid.UUID]:
    """``<ISO start>|<practitioner id>|<location id>`` from a slot form; Invalid otherwise."""
    try:
        start, practitioner_id, location_id = (value or "").split("|")
        parsed = dt.datetime.fromisoformat(start)
        if parsed.tzinfo is None:
            raise ValueError(start)
        return parsed, uuid.UUID(practitioner_id), uuid.UUID(location_id)
    except ValueError as exc:
        raise Invalid("Choose one of the free times.", errors={"slot": "Choose a time."}) from exc


def _details(appt) -> dict:
    """Names of the appointment's patient, practitioner, visit type and location (one query)."""

    def name_of(column, model, row_id):
        return (
            select(column)
            .where(model.tenant_id == appt.tenant_id, model.id == row_id)
            .scalar_subquery()
        )

    names = db.session.execute(
        select(
            name_of(Patient.full_name, Patient, appt.patient_id),
            name_of(Practitioner.display_name, Practitioner, appt.practitioner_id),
            name_of(VisitType.name, VisitType, appt.service_id),
            name_of(Location.name, Location, appt.location_id),
        )
    ).one()
    return dict(zip(("patient", "practitioner", "service", "location"), names, strict=True))


def _back(appt) -> str:
    default = url_for("calendar.day_view", date=local(appt.start_at).date().isoformat())
    return safe_next(request.args.get("back"), default)


@bp.route("/appointments/<uuid:appointment_id>")
@requires("schedule.view")
def appointment(appointment_id: uuid.UUID):
    """An appointment's details, history and the actions allowed now."""
    appt = appointment_or_404(appointment_id)
    now = utcnow()
    allowed = allowed_actions(appt, actor(), now)
    return render_template(
        "admin/calendar/appointment.html",
        appt=appt,
        names=_details(appt),
        status=appt.effective_status(now),
        when=when(appt.start_at, appt.end_at),
        price=format_price(appt.price_minor, appt.currency),
        fee=format_price(appt.fee_minor, appt.currency) if appt.fee_minor else None,
        buttons=[(slug, label) for slug, (verb, label, _) in BUTTONS.items() if verb in allowed],
        can_cancel="cancel" in allowed,
        can_move="reschedule" in allowed,
        history=appointment_history(db.session, g.tenant.id, appt.id),
        payments=[
            p for p in payments_for_appointment(db.session, g.tenant, appt.id) if p.paid_at
        ],
        format_price=format_price,
        event_labels=EVENT_LABELS,
        local=local,
        form=ActionForm(),
        back=_back(appt),
        day=local(appt.start_at).date(),
    )


@bp.route("/appointments/<uuid:appointment_id>/<action>", methods=["POST"])
@requires("appointments.manage")
def act(appointment_id: uuid.UUID, action: str):
    """Confirm, check in, mark as seen or as a no-show (the verb decides; refusals flashed)."""
    if action not in BUTTONS:
        abort(404)
    appt = appointment_or_404(appointment_id, for_update=True)
    verb, _, done = BUTTONS[action]
    try:
        VERBS[verb](db.session, g.tenant, actor(), appt)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash(f"Appointment {done}.", "success")
    details = url_for("calendar.appointment", appointment_id=appointment_id)
    return redirect(safe_next(request.form.get("next"), details))


@bp.route("/appointments/<uuid:appointment_id>/cancel", methods=["GET", "POST"])
@requires("appointments.manage")
def cancel(appointment_id: uuid.UUID):
    """Cancel with a reason; inside the cutoff the late-cancellation fee may be charged."""
    appt = appointment_or_404(appointment_id, for_update=request.method == "POST")
    now = utcnow()
    form = CancelForm()
    message = None
    if "cancel" not in allowed_actions(appt, actor(), now):
        flash("This appointment can no longer be cancelled.", "error")
        return redirect_to("calendar.appointment", appointment_id=appointment_id)
    rules = effective_rules(db.session, g.tenant.id, appt.service_id)
    late = appt.effective_status(now) == "confirmed" and appt.start_at - now < dt.timedelta(
        minutes=rules.cancellation_cutoff_minutes
    )
    fee = rules.late_cancellation_fee_minor if late else 0
    if form.validate_on_submit():
        try:
            cancel_appointment(
                db.session,
                g.tenant,
                actor(),
                appt,
                reason=form.reason.data,
                charge_fee=bool(fee and form.charge_fee.data),
                now=now,
            )
        except DomainError as exc:
            message = form_errors(form, exc)
        else:
            charged = (
                f" A late-cancellation fee of {format_price(fee, appt.currency)} was recorded."
                if appt.fee_minor
                else ""
            )
            flash(f"Appointment cancelled; the patient will be told.{charged}", "success")
            return redirect_to("calendar.appointment", appointment_id=appointment_id)
    return render_template(
        "admin/calendar/cancel.html",
        appt=appt,
        names=_details(appt),
        when=when(appt.start_at, appt.end_at),
        form=form,
        message=message,
        late=late,
        fee=format_price(fee, appt.currency) if fee else None,
        cutoff_hours=rules.cancellation_cutoff_minutes / 60,
    ), (422 if form.errors else 200)


@bp.route("/appointments/<uuid:appointment_id>/reschedule", methods=["GET", "POST"])
@requires("appointments.manage")
def reschedule(appointment_id: uuid.UUID):
    """Move a visit to a free time the slot engine offers (``?date=``, ``?practitioner=``)."""
    appt = appointment_or_404(appointment_id, for_update=request.method == "POST")
    now = utcnow()
    if "reschedule" not in allowed_actions(appt, actor(), now):
        flash("This appointment can no longer be moved.", "error")
        return redirect_to("calendar.appointment", appointment_id=appointment_id)
    form = SlotForm()
    message = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                start, practitioner_id, location_id = _parse_slot(form.slot.data)
                reschedule_appointment(
                    db.session,
                    g.tenant,
                    actor(),
                    appt,
                    start=start,
                    practitioner_id=practitioner_id,
                    location_id=location_id,
                    now=now,
                )
            except DomainError as exc:
                message = form_errors(form, exc)
            else:
                flash(f"Appointment moved to {when(appt.start_at, appt.end_at)}.", "success")
                return redirect_to("calendar.appointment", appointment_id=appointment_id)
        day = local(appt.start_at).date()
        if form.slot.data and "|" in form.slot.data:
            try:
                day = local(_parse_slot(form.slot.data)[0]).date()
            except Invalid:
                pass
    else:
        day = (
            date_arg()
            if request.args.get("date")
            else max(local(appt.start_at).date(), clinic_today())
        )
    practitioner_id = None
    if request.args.get("practitioner"):
        try:
            practitioner_id = uuid.UUID(request.args["practitioner"])
        except ValueError:
            practitioner_id = None
    slots = queries.staff_slots(
        db.session,
        g.tenant,
        appt.service_id,
        day,
        practitioner_id=practitioner_id,
        exclude_appointment_id=appt.id,
        now=now,
    )
    return render_template(
        "admin/calendar/reschedule.html",
        appt=appt,
        names=_details(appt),
        when=when(appt.start_at, appt.end_at),
        form=form,
        message=message,
        day=day,
        today=clinic_today(),
        slots=slots,
        practitioners=queries.practitioners_in_tenant(db.session, g.tenant.id),
        practitioner_id=practitioner_id,
        zone=zone(),
        prev_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        current_user=current_user,
    ), (422 if message else 200)
