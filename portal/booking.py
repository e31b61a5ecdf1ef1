"""The booking path, one plain-HTML step per page (works with JavaScript off).

``/book`` walks the steps by what its query string already holds: visit type
(``service_id``) → practitioner or "any available" (``practitioner_id``, ``any``) → a month
with the days that have free times (``month``) → the day's times (``date``) →
``/book/review`` (sign in or register first) → confirmed. The follow-up recall email links
to ``/book?service_id=&practitioner_id=&from=&to=`` and lands on the month of ``from``.

Decisions:

- Every list of times comes from the slot engine through :func:`portal.times.free_times`,
  and booking goes through :func:`saas.scheduling.services.book_appointment`, the same verb
  as the API; the page re-implements no rule.
- A time someone else took meanwhile (``slot_taken``) answers a kind page with the three
  nearest free times (409, nothing written), never an error page.
- A visit type that needs prepayment ends "held until paid" with the hold's end shown.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from flask import g, redirect, render_template, request, url_for

from saas import db
from saas.actors import Actor
from saas.exceptions import Conflict, DomainError, NotFound
from saas.extensions import limiter
from saas.models import utcnow
from saas.records import intake
from saas.scheduling.queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    is_returning_patient,
)
from saas.scheduling.rules import effective_rules
from saas.scheduling.services import book_appointment
from saas.scheduling.waitlist import get_waitlist_entry_in_tenant

from . import refusals
from .blueprint import bp
from .catalogue import active_visit_types, practitioners_for, visit_type_in
from .forms import ConfirmBookingForm
from .session import current_patient, patient_required
from .times import day_bounds, free_times, month_days, nearest
from .visits import start_payment


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _start(value) -> dt.datetime | None:
    try:
        start = dt.datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


def _zone() -> ZoneInfo:
    return ZoneInfo(g.tenant.timezone)


def _month_nav(month: dt.date, today: dt.date, params: dict) -> dict:
    prev_month = (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    next_month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return {
        "prev": url_for("portal.book", **params, month=prev_month.strftime("%Y-%m"))
        if prev_month >= today.replace(day=1)
        else None,
        "next": url_for("portal.book", **params, month=next_month.strftime("%Y-%m")),
    }


@bp.route("/book")
def book():
    """Choose a visit type, a practitioner, a day and a time."""
    tenant = g.tenant
    zone = _zone()
    today = utcnow().astimezone(zone).date()
    service = visit_type_in(tenant, _uuid(request.args.get("service_id")))
    #: A recall link may name the practitioner and a date window before the visit type.
    carry = {k: request.args[k] for k in ("practitioner_id", "from") if request.args.get(k)}
    if service is None:
        return render_template(
            "portal/book_types.html", services=active_visit_types(tenant), carry=carry
        )
    practitioners = practitioners_for(tenant, service.id)
    chosen = _uuid(request.args.get("practitioner_id"))
    practitioner = next((p for p in practitioners if p.id == chosen), None)
    if practitioner is None and request.args.get("any") != "1":
        window = {"from": request.args["from"]} if request.args.get("from") else {}
        return render_template(
            "portal/book_practitioners.html",
            service=service,
            practitioners=practitioners,
            carry=window,
        )
    params = {"service_id": service.id}
    if request.args.get("from"):
        params["from"] = request.args["from"]
    if practitioner is not None:
        params["practitioner_id"] = practitioner.id
    else:
        params["any"] = "1"
    day = _date(request.args.get("date"))
    if day is not None and day >= today:
        start, end = day_bounds(day, zone)
        found = free_times(
            tenant,
            service.id,
            start,  # the engine leaves out what is past; a fixed start keeps it cacheable
            end,
            practitioner_id=practitioner.id if practitioner else None,
        )
        names = {o.practitioner_id: o.practitioner_name for o in found.offerings}
        places = {o.location_id: o.location_name for o in found.offerings}
        return render_template(
            "portal/book_day.html",
            service=service,
            practitioner=practitioner,
            day=day,
            slots=found.slots,
            names=names,
            places=places,
            params=params,
            back=url_for("portal.book", **params, month=day.strftime("%Y-%m")),
        )
    month = _date((request.args.get("month") or "") + "-01") or _date(request.args.get("from"))
    month = max(month or today, today).replace(day=1)
    weeks, free = month_days(
        tenant, service.id, month, zone, practitioner_id=practitioner.id if practitioner else None
    )
    return render_template(
        "portal/book_month.html",
        service=service,
        practitioner=practitioner,
        month=month,
        weeks=weeks,
        free=free,
        today=today,
        params=params,
        nav=_month_nav(month, today, params),
    )


def _chosen(source) -> dict | None:
    """The visit type, practitioner, location and start named by ``source`` (args or form)."""
    tenant = g.tenant
    service = visit_type_in(tenant, _uuid(source.get("service_id")))
    practitioner = get_practitioner_in_tenant(
        db.session, tenant.id, _uuid(source.get("practitioner_id"))
    )
    location = get_location_in_tenant(db.session, tenant.id, _uuid(source.get("location_id")))
    start = _start(source.get("start"))
    if None in (service, practitioner, location, start):
        return None
    rules = effective_rules(db.session, tenant.id, service.id)
    return {
        "service": service,
        "practitioner": practitioner,
        "location": location,
        "start": start,
        "end": start + dt.timedelta(minutes=service.duration_minutes),
        "rules": rules,
    }


def _intake_questions(choice: dict, patient) -> list[str]:
    """The clinic's intake questions when this booking is the patient's first visit."""
    first = choice["service"].new_patients_only or not is_returning_patient(
        db.session, g.tenant.id, patient.id, now=utcnow()
    )
    if not intake.needs_intake(db.session, g.tenant, patient, first_visit=first):
        return []
    return intake.questions(g.tenant)


def _review(choice: dict, form: ConfirmBookingForm, message: str | None = None, status=200):
    asked = _intake_questions(choice, current_patient())
    answers = [request.form.get(f"answer_{i}", "") for i in range(len(asked))]
    return (
        render_template(
            "portal/review.html",
            c=choice,
            form=form,
            message=message,
            intake=list(zip(asked, answers, strict=True)),
            max_answer=intake.MAX_ANSWER,
        ),
        status,
    )


def _patient_key() -> str:
    """Rate-limit key of the signed-in patient (per account, on top of per address)."""
    patient = current_patient()
    return f"portal-patient:{patient.id}" if patient else "portal-patient:-"


@bp.route("/book/review", methods=["GET", "POST"])
@patient_required
@limiter.limit("30/hour", methods=["POST"])
@limiter.limit("20/hour", methods=["POST"], key_func=_patient_key)
def review():
    """The chosen time, the clinic's cancellation policy, and the button that books it."""
    form = ConfirmBookingForm()
    source = request.form if request.method == "POST" else request.args
    choice = _chosen(source)
    if choice is None:
        return render_template("portal/link_invalid.html", what="time"), 404
    if request.method == "GET":
        for key in ("service_id", "practitioner_id", "location_id", "start"):
            getattr(form, key).data = request.args.get(key)
        return _review(choice, form)
    if not form.validate_on_submit():
        return _review(choice, form, status=422)
    patient = current_patient()
    asked = _intake_questions(choice, patient)
    try:
        appt = book_appointment(
            db.session,
            g.tenant,
            Actor.for_patient(patient),
            patient=patient,
            service_id=choice["service"].id,
            practitioner_id=choice["practitioner"].id,
            location_id=choice["location"].id,
            start=choice["start"],
        )
    except Conflict as exc:
        if exc.reason != "slot_taken":
            return _review(choice, form, refusals.refused(exc), status=409)
        refusals.refused(exc)
        return _taken(choice)
    except (DomainError, NotFound) as exc:
        return _review(choice, form, refusals.refused(exc), status=422)
    if asked:  # in the booking's transaction: a refused booking keeps no answers
        answers = [request.form.get(f"answer_{i}", "") for i in range(len(asked))]
        intake.submit_intake(db.session, g.tenant, patient, answers, appointment_id=appt.id)
    if appt.status == "held" and (checkout := start_payment(appt)):
        return redirect(checkout, code=303)  # on to Stripe Checkout; back to the visit after
    return redirect(url_for("portal.appointment", appointment_id=appt.id, booked=1))


def _taken(choice: dict):
    """Someone else was faster: the three nearest free times instead of an error."""
    service, practitioner = choice["service"], choice["practitioner"]
    picks = nearest(g.tenant, service.id, choice["start"], practitioner_id=practitioner.id)
    if not picks:
        picks = nearest(g.tenant, service.id, choice["start"])
    found_names = {p.id: p.display_name for p in practitioners_for(g.tenant, service.id)}
    places = {}
    for slot in picks:
        if slot.location_id not in places:
            loc = get_location_in_tenant(db.session, g.tenant.id, slot.location_id)
            places[slot.location_id] = loc.name if loc else ""
    return (
        render_template(
            "portal/taken.html",
            c=choice,
            picks=picks,
            names=found_names,
            places=places,
        ),
        409,
    )


@bp.route("/book/offer/<offer_id>")
@patient_required
def waitlist_offer(offer_id):
    """The waitlist email's link: review the offered time in one step."""
    from saas.scheduling.models import WaitlistOffer

    patient = current_patient()
    offer = (
        db.session.get(WaitlistOffer, (g.tenant.id, _uuid(offer_id))) if _uuid(offer_id) else None
    )
    entry = get_waitlist_entry_in_tenant(db.session, g.tenant.id, offer.entry_id) if offer else None
    if entry is None or entry.patient_id != patient.id:
        return render_template("portal/link_invalid.html", what="offer"), 404
    return redirect(
        url_for(
            "portal.review",
            service_id=entry.service_id,
            practitioner_id=offer.practitioner_id,
            location_id=offer.location_id,
            start=offer.start_at.isoformat(),
        )
    )
