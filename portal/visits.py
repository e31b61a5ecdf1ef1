"""My visits: upcoming and past, reschedule, cancel, calendar links, the waitlist.

Which buttons a visit shows is :func:`saas.scheduling.states.allowed_actions`; a refused
action shows the reason :func:`saas.scheduling.states.refusal` gives (the clinic's cutoff,
the visit's state). The verbs are the API's: ``reschedule_appointment``,
``cancel_appointment``, ``join_waitlist``, ``leave_waitlist``. Another patient's or
another clinic's id is the same 404 as a missing one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from saas import db
from saas.actors import Actor
from saas.exceptions import DomainError
from saas.models import utcnow
from saas.scheduling.feeds import appointment_calendar
from saas.scheduling.messages import describe
from saas.scheduling.models import Appointment, WaitlistEntry
from saas.scheduling.queries import get_appointment_in_tenant
from saas.scheduling.rules import effective_rules
from saas.scheduling.services import (
    cancel_appointment,
    cancellation_terms,
    reschedule_appointment,
)
from saas.scheduling.states import allowed_actions, refusal
from saas.scheduling.waitlist import get_waitlist_entry_in_tenant, join_waitlist, leave_waitlist

from . import fmt, refusals
from .blueprint import bp
from .catalogue import active_visit_types, practitioners_for, visit_type_in
from .forms import ActionForm, CancelForm, RescheduleForm, WaitlistForm
from .session import current_patient, patient_required
from .times import day_bounds, free_times, month_days

STATUS_TEXT = {
    "confirmed": _l("Confirmed"),
    "held": _l("Held until paid"),
    "expired": _l("Hold lapsed"),
    "cancelled": _l("Cancelled"),
    "checked_in": _l("Checked in"),
    "completed": _l("Completed"),
    "no_show": _l("Missed"),
}


def _own(appointment_id) -> Appointment | None:
    """The signed-in patient's appointment, or None (missing, another's, another clinic's)."""
    try:
        appointment_id = uuid.UUID(str(appointment_id))
    except ValueError:
        return None
    appt = get_appointment_in_tenant(db.session, g.tenant.id, appointment_id)
    if appt is None or appt.patient_id != current_patient().id:
        return None
    return appt


def _not_found():
    return render_template("portal/link_invalid.html", what="visit"), 404


def _view(appt: Appointment, now: dt.datetime) -> dict:
    """What a page shows about one visit: details, state, allowed actions and refusals."""
    actor = Actor.for_patient(current_patient())
    rules = effective_rules(db.session, g.tenant.id, appt.service_id)
    details = describe(db.session, appt)
    allowed = allowed_actions(appt, actor, now, rules=rules)
    why = {}
    for action in ("reschedule", "cancel"):
        if action not in allowed and (problem := refusal(action, appt, actor, now, rules=rules)):
            why[action] = refusals.text(problem)
    late, fee = cancellation_terms(rules, appt.status, appt.start_at, actor.kind, now)
    late = late and "cancel" in allowed
    return {
        "appt": appt,
        "d": details,
        "zone": details["timezone"],
        "status": appt.effective_status(now),
        "status_text": str(STATUS_TEXT.get(appt.effective_status(now), appt.status)),
        "allowed": allowed,
        "why": why,
        "rules": rules,
        "late": late,
        "fee": fee if late else 0,  # what cancelling now keeps (the cancel verb's own rule)
    }


@bp.route("/appointments")
@patient_required
def appointments():
    """Upcoming and past visits of the signed-in patient."""
    now = utcnow()
    rows = list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.tenant_id == g.tenant.id,
                Appointment.patient_id == current_patient().id,
            )
            .order_by(Appointment.start_at)
        )
    )
    active = ("held", "confirmed", "checked_in")
    upcoming = [_view(a, now) for a in rows if a.end_at > now and a.effective_status(now) in active]
    shown = {v["appt"].id for v in upcoming}
    past = [_view(a, now) for a in reversed(rows) if a.id not in shown][:50]
    waiting = list(
        db.session.scalars(
            select(WaitlistEntry).where(
                WaitlistEntry.tenant_id == g.tenant.id,
                WaitlistEntry.patient_id == current_patient().id,
                WaitlistEntry.status == "waiting",
            )
        )
    )
    return render_template(
        "portal/appointments.html",
        upcoming=upcoming,
        past=past,
        waiting=waiting,
        services={s.id: s for s in active_visit_types(g.tenant)},
        form=ActionForm(),
    )


def _calendar_links(v: dict, clinic: str) -> dict:
    appt, d = v["appt"], v["d"]
    title = f"{d['service']} with {d['practitioner']} ({clinic})"
    where = d["address"] or d["location"]
    fmt = "%Y%m%dT%H%M%SZ"
    start, end = appt.start_at.astimezone(dt.UTC), appt.end_at.astimezone(dt.UTC)
    google = "https://calendar.google.com/calendar/render?" + urlencode(
        {
            "action": "TEMPLATE",
            "text": title,
            "dates": f"{start:{fmt}}/{end:{fmt}}",
            "location": where,
        }
    )
    outlook = "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(
        {
            "path": "/calendar/action/compose",
            "rru": "addevent",
            "subject": title,
            "startdt": start.isoformat(),
            "enddt": end.isoformat(),
            "location": where,
        }
    )
    return {"google": google, "outlook": outlook}


@bp.route("/appointments/<appointment_id>")
@patient_required
def appointment(appointment_id):
    """One visit: details, calendar links, and what the patient may do with it."""
    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    v = _view(appt, utcnow())
    from billing import services as billing

    payments = billing.payments_for_appointment(db.session, g.tenant, appt.id)
    return render_template(
        "portal/appointment.html",
        v=v,
        links=_calendar_links(v, g.tenant.name),
        booked=request.args.get("booked") == "1",
        paid_now=request.args.get("paid") == "1",
        payable=_online_payment(appt),
        paid=next((p for p in payments if p.paid_at), None),
        pay_form=ActionForm(),
    )


@bp.route("/appointments/<appointment_id>/calendar.ics")
@patient_required
def appointment_ics(appointment_id):
    """The visit as an ``.ics`` file."""
    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    body = appointment_calendar(db.session, g.tenant, appt, for_patient=True)
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="appointment-{appt.id}.ics"'},
    )


@bp.route("/appointments/<appointment_id>/cancel", methods=["GET", "POST"])
@patient_required
def cancel(appointment_id):
    """Cancel, with the late-cancellation fee stated first when it applies."""
    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    form = CancelForm()
    now = utcnow()
    v = _view(appt, now)
    from billing.refunds import policy_refund_preview

    refund = policy_refund_preview(db.session, g.tenant, appt.id, v["fee"])
    if form.validate_on_submit():
        try:
            cancel_appointment(
                db.session,
                g.tenant,
                Actor.for_patient(current_patient()),
                appt,
                reason=form.reason.data,
                now=now,
            )
        except DomainError as exc:
            message = refusals.form_errors(form, exc)
            page = render_template(
                "portal/cancel.html", v=v, form=form, message=message, refund=refund
            )
            return page, 422
        if refund and refund[0]:
            flash(
                _(
                    "Your visit is cancelled. %(amount)s is on its way back to your card; it can"
                    " take a few days to arrive. We have emailed you a confirmation.",
                    amount=fmt.price(*refund),
                ),
                "success",
            )
        else:
            flash(_("Your visit is cancelled. We have emailed you a confirmation."), "success")
        return redirect(url_for("portal.appointments"))
    status = 422 if form.errors else 200
    page = render_template("portal/cancel.html", v=v, form=form, message=None, refund=refund)
    return page, status


@bp.route("/appointments/<appointment_id>/reschedule", methods=["GET", "POST"])
@patient_required
def reschedule(appointment_id):
    """Choose a new day and time from the same engine, for the same visit type."""
    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    now = utcnow()
    v = _view(appt, now)
    form = RescheduleForm()
    message = None
    if form.validate_on_submit():
        try:
            start = dt.datetime.fromisoformat(form.start.data)
            reschedule_appointment(
                db.session,
                g.tenant,
                Actor.for_patient(current_patient()),
                appt,
                start=start,
                practitioner_id=uuid.UUID(form.practitioner_id.data),
                location_id=uuid.UUID(form.location_id.data),
                now=now,
            )
        except ValueError:
            message = _("Choose one of the times shown.")
        except DomainError as exc:
            message = refusals.refused(exc)
        else:
            flash(_("Your visit has a new time. We have emailed you the details."), "success")
            return redirect(url_for("portal.appointment", appointment_id=appt.id))
    zone = g.tenant.timezone
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    day = None
    try:
        day = dt.date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        day = None
    month_arg = request.args.get("month", "")
    try:
        month = dt.date.fromisoformat(month_arg + "-01") if month_arg else None
    except ValueError:
        month = None
    month = max(month or day or appt.start_at.astimezone(tz).date(), today).replace(day=1)
    weeks, free = month_days(
        g.tenant, appt.service_id, month, tz, practitioner_id=appt.practitioner_id
    )
    slots = []
    if day is not None and day >= today:
        start, end = day_bounds(day, tz)
        found = free_times(
            g.tenant, appt.service_id, max(start, now), end, practitioner_id=appt.practitioner_id
        )
        slots = [s for s in found.slots if s.start != appt.start_at]
    next_month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    prev_month = (month - dt.timedelta(days=1)).replace(day=1)
    return (
        render_template(
            "portal/reschedule.html",
            v=v,
            form=form,
            message=message,
            weeks=weeks,
            free=free,
            month=month,
            day=day,
            slots=slots,
            today=today,
            prev_month=prev_month if prev_month >= today.replace(day=1) else None,
            next_month=next_month,
        ),
        422 if message else 200,
    )


@bp.route("/waitlist", methods=["GET", "POST"])
@patient_required
def waitlist():
    """Wait for a sooner time of a visit type, with a practitioner and dates if you like."""
    services = active_visit_types(g.tenant)
    form = WaitlistForm()
    form.service_id.choices = [("", _("Choose a visit type"))] + [
        (str(s.id), s.name) for s in services
    ]
    chosen = visit_type_in(
        g.tenant, _maybe_uuid(form.service_id.data or request.args.get("service_id"))
    )
    people = practitioners_for(g.tenant, chosen.id) if chosen else []
    if not people:
        seen = {}
        for s in services:
            for p in practitioners_for(g.tenant, s.id):
                seen[p.id] = p
        people = sorted(seen.values(), key=lambda p: p.display_name)
    form.practitioner_id.choices = [("", _("Any practitioner"))] + [
        (str(p.id), p.display_name) for p in people
    ]
    if request.method == "GET" and chosen is not None:
        form.service_id.data = str(chosen.id)
    message = None
    if form.validate_on_submit():
        try:
            join_waitlist(
                db.session,
                g.tenant,
                Actor.for_patient(current_patient()),
                current_patient(),
                service_id=_maybe_uuid(form.service_id.data),
                practitioner_id=_maybe_uuid(form.practitioner_id.data),
                earliest_date=form.earliest_date.data,
                latest_date=form.latest_date.data,
            )
        except DomainError as exc:
            message = refusals.form_errors(form, exc)
        else:
            flash(_("You are on the waitlist. We email you when a time frees up."), "success")
            return redirect(url_for("portal.appointments"))
    status = 422 if (form.errors or message) else 200
    return render_template("portal/waitlist.html", form=form, message=message), status


def _maybe_uuid(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@bp.route("/waitlist/<entry_id>/leave", methods=["POST"])
@patient_required
def leave(entry_id):
    """Leave the waitlist."""
    form = ActionForm()
    entry_uuid = _maybe_uuid(entry_id)
    entry = (
        get_waitlist_entry_in_tenant(db.session, g.tenant.id, entry_uuid) if entry_uuid else None
    )
    if entry is None or entry.patient_id != current_patient().id:
        return _not_found()
    if form.validate_on_submit():
        try:
            leave_waitlist(db.session, g.tenant, Actor.for_patient(current_patient()), entry)
        except DomainError as exc:
            flash(refusals.refused(exc), "error")
        else:
            flash(_("You have left the waitlist."), "success")
    return redirect(url_for("portal.appointments"))


# ----------------------------------------------------------------------------------------------
# Payments: paying a held visit online, and receipts
# ----------------------------------------------------------------------------------------------


def _online_payment(appt: Appointment):
    """(visit type, amount due) when this held visit can be paid online now, else None."""
    from billing import services as billing
    from saas.scheduling.models import VisitType

    if appt.effective_status(utcnow()) != "held":
        return None
    visit_type = db.session.get(VisitType, (g.tenant.id, appt.service_id))
    due = billing.amount_due(visit_type, appt.price_minor) if visit_type else None
    account = billing.connect_account_for(db.session, g.tenant)
    if due is None or account is None or not account.ready:
        return None
    return visit_type, due


def start_payment(appt: Appointment) -> str | None:
    """The Checkout URL for a held visit (None: not payable online, or Stripe unavailable)."""
    from billing import services as billing

    payable = _online_payment(appt)
    if payable is None:
        return None
    try:
        pay = billing.start_visit_checkout(
            db.session,
            g.tenant,
            appt,
            payable[0],
            success_url=url_for(
                "portal.appointment", appointment_id=appt.id, paid=1, _external=True
            ),
            cancel_url=url_for("portal.appointment", appointment_id=appt.id, _external=True),
        )
    except DomainError as exc:
        flash(refusals.text(exc), "error")
        return None
    return pay.checkout_url if pay.status == "open" else None


@bp.route("/appointments/<appointment_id>/pay", methods=["POST"])
@patient_required
def pay(appointment_id):
    """Pay a held visit: on to Stripe Checkout (on the clinic's own Stripe account)."""
    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    if not ActionForm().validate_on_submit():
        return redirect(url_for("portal.appointment", appointment_id=appt.id))
    url = start_payment(appt)
    if url is None:
        return redirect(url_for("portal.appointment", appointment_id=appt.id))
    return redirect(url, code=303)


@bp.route("/appointments/<appointment_id>/receipt")
@patient_required
def receipt(appointment_id):
    """The receipt of a paid visit, with its refunds (date, amount, where each stands)."""
    from billing import services as billing

    appt = _own(appointment_id)
    if appt is None:
        return _not_found()
    from billing.refunds import refunds_of

    paid = [p for p in billing.payments_for_appointment(db.session, g.tenant, appt.id) if p.paid_at]
    if not paid:
        return _not_found()
    # every refund of the payment, pending ones too (the patient sees what is under way);
    # failed or cancelled ones are shown as such, never counted as money back
    refunds = refunds_of(db.session, g.tenant.id, paid[0].id)
    return render_template(
        "portal/receipt.html", v=_view(appt, utcnow()), payment=paid[0], refunds=refunds
    )
