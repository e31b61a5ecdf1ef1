"""Book by phone: find the caller (or add them), pick visit type, practitioner and time, confirm.

Three plain pages, each a GET form leading to the next, then one POST that books:

1. ``/book`` — search by name (part of it), email (exact, through the blind index) or
   phone number (its digits), or add a new patient (``saas.records.services``);
2. ``/book?patient=<id>&service=&practitioner=&date=`` — free times from the slot engine
   (:func:`.queries.staff_slots`; "any practitioner" lists everyone who offers the visit);
3. ``/book/confirm?...&slot=`` — a summary, and the button that books through
   :func:`saas.scheduling.services.book_appointment`, as the API does for staff.

Decisions: the query is read as an email when it has an ``@``, as a phone number when it
is mostly digits (at least 6), else as a name. Every search is audited
(``patient.searched``, without the terms).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from saas import db
from saas.errors import form_errors
from saas.exceptions import DomainError, Invalid
from saas.money import format_price
from saas.patients import get_patient_in_tenant
from saas.records.queries import patients_page
from saas.records.services import create_patient_by_staff
from saas.scheduling.models import VisitType
from saas.scheduling.queries import get_practitioner_in_tenant, get_visit_type_in_tenant
from saas.scheduling.services import book_appointment
from saas.security.rbac import requires

from . import queries
from .appointment_views import _parse_slot
from .blueprint import actor, bp, clinic_today, date_arg, when
from .forms import BookForm, NewPatientForm

PHONE_LIKE = re.compile(r"^[\d\s()+./-]+$")


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _search(q: str) -> tuple[str, list[dict]]:
    """(how the query was read, matching patients)."""
    q = q.strip()
    if "@" in q:
        return "email", patients_page(db.session, g.tenant, current_user, email=q, limit=20)[1]
    if PHONE_LIKE.match(q) and len(queries.digits(q)) >= 6:
        return "phone", queries.patients_by_phone(db.session, g.tenant, current_user, q)
    return "name", patients_page(db.session, g.tenant, current_user, q=q, limit=20)[1]


def _visit_types() -> list[VisitType]:
    """The clinic's active visit types, by name."""
    return list(
        db.session.scalars(
            select(VisitType)
            .where(VisitType.tenant_id == g.tenant.id, VisitType.is_active.is_(True))
            .order_by(VisitType.name, VisitType.id)
        )
    )


@bp.route("/book")
@requires("appointments.manage")
def book():
    """Book by phone: find the patient, then choose the visit and a free time."""
    patient = None
    if pid := _uuid(request.args.get("patient")):
        patient = get_patient_in_tenant(db.session, g.tenant, pid)
        if patient is None or patient.status != "active":
            flash("That patient was not found; search again.", "error")
            return redirect(url_for("calendar.book"))
    if patient is None:
        q = (request.args.get("q") or "").strip()[:200]
        read_as, found = _search(q) if q else (None, [])
        return render_template(
            "admin/calendar/book_patient.html",
            q=q,
            read_as=read_as,
            found=found,
            form=NewPatientForm(),
            message=None,
            day=clinic_today(),
        )
    visit_types = _visit_types()
    service = _uuid(request.args.get("service"))
    service = next((v for v in visit_types if v.id == service), None)
    practitioners = queries.practitioners_in_tenant(db.session, g.tenant.id)
    practitioner_id = _uuid(request.args.get("practitioner"))
    day = date_arg()
    slots = (
        queries.staff_slots(db.session, g.tenant, service.id, day, practitioner_id=practitioner_id)
        if service is not None
        else []
    )
    return render_template(
        "admin/calendar/book_time.html",
        patient=patient,
        visit_types=visit_types,
        service=service,
        practitioners=practitioners,
        practitioner_id=practitioner_id,
        day=day,
        today=clinic_today(),
        prev_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        slots=slots,
        price=format_price,
    )


@bp.route("/book/patients", methods=["POST"])
@requires("patients.manage")
def book_new_patient():
    """Add the caller as a new patient, then continue booking for them."""
    form = NewPatientForm()
    message = None
    if form.validate_on_submit():
        data = {"full_name": form.full_name.data, "email": form.email.data or None}
        if form.phone.data:
            data["phone"] = form.phone.data.strip()
        try:
            patient = create_patient_by_staff(db.session, g.tenant, current_user, data)
        except DomainError as exc:
            message = form_errors(form, exc)
        else:
            flash(f"{patient.full_name} added as a patient.", "success")
            return redirect(url_for("calendar.book", patient=patient.id))
    return render_template(
        "admin/calendar/book_patient.html",
        q="",
        read_as=None,
        found=[],
        form=form,
        message=message,
        day=clinic_today(),
    ), 422


def _chosen():
    """(patient, visit type, slot tuple) named by the booking's parameters, or Invalid."""
    source = request.form if request.method == "POST" else request.args
    patient = None
    if pid := _uuid(source.get("patient_id") or source.get("patient")):
        patient = get_patient_in_tenant(db.session, g.tenant, pid)
    if patient is None or patient.status != "active":
        raise Invalid("Choose the patient again.", errors={"patient_id": "Choose the patient."})
    visit_type = None
    if vid := _uuid(source.get("service_id") or source.get("service")):
        visit_type = get_visit_type_in_tenant(db.session, g.tenant.id, vid)
    if visit_type is None:
        raise Invalid("Choose the visit type.", errors={"service_id": "Choose a visit type."})
    return patient, visit_type, _parse_slot(source.get("slot"))


@bp.route("/book/confirm", methods=["GET", "POST"])
@requires("appointments.manage")
def book_confirm():
    """Check the booking with the caller, then book it."""
    try:
        patient, visit_type, (start, practitioner_id, location_id) = _chosen()
    except Invalid as exc:
        flash(exc.message, "error")
        pid = (
            None
            if "patient_id" in exc.errors
            else _uuid(request.values.get("patient") or request.values.get("patient_id"))
        )
        return redirect(url_for("calendar.book", patient=pid))
    form = BookForm(
        patient_id=str(patient.id), service_id=str(visit_type.id), slot=request.values.get("slot")
    )
    practitioner = get_practitioner_in_tenant(db.session, g.tenant.id, practitioner_id)
    message = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            appt = book_appointment(
                db.session,
                g.tenant,
                actor(),
                patient=patient,
                service_id=visit_type.id,
                practitioner_id=practitioner_id,
                location_id=location_id,
                start=start,
            )
        except DomainError as exc:
            message = form_errors(form, exc)
        else:
            state = "held until paid" if appt.status == "held" else "confirmed"
            flash(
                f"Booked: {patient.full_name}, {visit_type.name}, "
                f"{when(appt.start_at, appt.end_at)} ({state}).",
                "success",
            )
            return redirect(url_for("calendar.appointment", appointment_id=appt.id))
    end = start + dt.timedelta(minutes=visit_type.duration_minutes)
    return render_template(
        "admin/calendar/book_confirm.html",
        patient=patient,
        visit_type=visit_type,
        practitioner=practitioner,
        when=when(start, end),
        price=format_price(visit_type.price_minor, visit_type.currency),
        form=form,
        message=message,
        day=start.date(),
        back=url_for(
            "calendar.book",
            patient=patient.id,
            service=visit_type.id,
            date=start.date().isoformat(),
        ),
    ), (409 if message else 200)
