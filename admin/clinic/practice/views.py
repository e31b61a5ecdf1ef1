"""Practice settings pages of the console (``/console/practice/...``).

Profile, locations, practitioners, visit types, weekly hours, closures and time off, booking
rules and branding.

Every page needs ``practice.manage`` (owners and admins; branding and the clinic profile are
settings sections that need ``settings.manage``, which the same roles hold). Views parse the
form, call the same verbs as the API (:mod:`saas.scheduling.practice`, the settings registry,
:mod:`tenants.branding`) and redirect with a flash message; a refusal is shown next to its
field with an error summary, and the request's transaction is rolled back. Every id is
looked up in the clinic of the host: another clinic's id is a 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from admin.clinic import TEMPLATES
from admin.clinic.staff.views import note_session
from saas import db, settings
from saas.actors import Actor
from saas.errors import form_errors, refused, status_of
from saas.exceptions import DomainError, Invalid, not_found
from saas.extensions import limiter
from saas.models import User
from saas.money import format_price
from saas.scheduling.models import (
    AvailabilityException,
    Closure,
    Location,
    Practitioner,
    VisitType,
)
from saas.scheduling.practice import availability as availability_rules
from saas.scheduling.practice import (
    availability_exceptions,
    booking_rules,
    closures,
    locations,
    practitioners,
    visit_types,
)
from saas.scheduling.practice.availability import WEEKDAYS
from saas.scheduling.queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_visit_type_in_tenant,
    visit_type_links,
)
from saas.scheduling.rules import effective_rules, rule_rows
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on
from tenants import branding
from tenants.onboarding import practice_readiness

from . import services
from .forms import (
    BrandingForm,
    ButtonForm,
    ClosureForm,
    DatedHoursForm,
    LocationForm,
    LogoForm,
    PractitionerEditForm,
    PractitionerForm,
    ProfileForm,
    RuleOverridesForm,
    RulesForm,
    TimeOffForm,
    VisitTypeForm,
)

bp = Blueprint(
    "practice",
    __name__,
    url_prefix="/console/practice",
    template_folder=TEMPLATES,
    static_folder="static",
    static_url_path="/static",
)
serve_on(bp, CLINIC)
bp.before_request(note_session)

#: Windows per weekday on the availability grid.
GRID_SLOTS = 3


def _actor() -> Actor:
    return Actor.for_staff(current_user)


def _tenant():
    """The clinic of this request, attached to the request's session."""
    g.tenant = db.session.merge(g.tenant)
    return g.tenant


def _failed(form, exc: DomainError) -> tuple[str, int]:
    """Show ``exc`` on ``form``; the summary message and the status to answer with."""
    return form_errors(form, exc), status_of(exc)


def _invalid_status(form) -> int:
    return 422 if form.errors else 200


# -- overview --------------------------------------------------------------------------------
@bp.route("/")
@requires("practice.manage")
def overview():
    """Every practice setting, with the onboarding checklist."""
    return render_template(
        "admin/practice/overview.html", readiness=practice_readiness(db.session, g.tenant)
    )


# -- clinic profile --------------------------------------------------------------------------
@bp.route("/profile", methods=["GET", "POST"])
@requires("settings.manage")
def profile():
    """The clinic's name, contact details, time zone and currency (settings ``clinic``)."""
    current = settings.read(g.tenant, "clinic")
    form = ProfileForm(data=current)
    summary, status = None, 200
    if form.validate_on_submit():
        changes = {k: (form.data[k] or "").strip() for k in current}
        try:
            settings.update_settings(db.session, _tenant(), _actor(), "clinic", changes)
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash("Clinic profile saved.", "success")
            return redirect(url_for("practice.profile"))
    else:
        status = _invalid_status(form)
    return render_template("admin/practice/profile.html", form=form, summary=summary), status


# -- locations -------------------------------------------------------------------------------
def _locations(*, active_only: bool = False) -> list[Location]:
    q = select(Location).where(Location.tenant_id == g.tenant.id)
    if active_only:
        q = q.where(Location.is_active.is_(True))
    return list(db.session.scalars(q.order_by(Location.is_active.desc(), Location.name)))


def _location_data(form: LocationForm) -> dict:
    return {
        "name": form.name.data,
        "kind": form.kind.data,
        "address": (form.address.data or "").strip() or None,
        "timezone": form.timezone.data,
    }


@bp.route("/locations", methods=["GET", "POST"])
@requires("practice.manage")
def location_list():
    """The clinic's locations; add one."""
    form = LocationForm(timezone=g.tenant.timezone)
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            loc = locations.create_location(db.session, g.tenant, _actor(), _location_data(form))
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"Location “{loc.name}” added.", "success")
            return redirect(url_for("practice.location_list"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/locations.html",
        form=form,
        summary=summary,
        locations=_locations(),
        button=ButtonForm(),
    ), status


def _location_or_404(location_id) -> Location:
    loc = get_location_in_tenant(db.session, g.tenant.id, location_id)
    if loc is None:
        raise not_found("location")
    return loc


@bp.route("/locations/<uuid:location_id>", methods=["GET", "POST"])
@requires("practice.manage")
def location_edit(location_id: uuid.UUID):
    """Change a location."""
    loc = _location_or_404(location_id)
    form = LocationForm(obj=loc)
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            locations.update_location(db.session, g.tenant, _actor(), loc, _location_data(form))
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"Location “{loc.name}” saved.", "success")
            return redirect(url_for("practice.location_list"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/location_edit.html", form=form, summary=summary, loc=loc
    ), status


# -- practitioners ---------------------------------------------------------------------------
def _practitioners(*, active_only: bool = False) -> list[Practitioner]:
    q = select(Practitioner).where(Practitioner.tenant_id == g.tenant.id)
    if active_only:
        q = q.where(Practitioner.is_active.is_(True))
    return list(
        db.session.scalars(q.order_by(Practitioner.is_active.desc(), Practitioner.display_name))
    )


def _staff_choices(current: uuid.UUID | None = None) -> list[tuple[str, str]]:
    """Staff accounts without a practitioner profile (plus ``current``), for the select."""
    linked = {p.user_id for p in _practitioners() if p.user_id and p.user_id != current}
    users = db.session.scalars(
        select(User)
        .where(User.tenant_id == g.tenant.id, User.is_active.is_(True))
        .order_by(User.name)
    )
    return [SelectChoice("", "None: a bookable-only person")] + [
        SelectChoice(str(u.id), f"{u.name} ({u.role})") for u in users if u.id not in linked
    ]


def _practitioner_data(form: PractitionerForm) -> dict:
    return {
        "display_name": form.display_name.data,
        "title": (form.title.data or "").strip() or None,
        "bio": (form.bio.data or "").strip() or None,
        "user_id": uuid.UUID(form.user_id.data) if form.user_id.data else None,
    }


@bp.route("/practitioners", methods=["GET", "POST"])
@requires("practice.manage")
def practitioner_list():
    """Who patients can book; add a staff member or a bookable-only person."""
    form = PractitionerForm()
    form.user_id.choices = _staff_choices()
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            p = practitioners.create_practitioner(
                db.session, g.tenant, _actor(), _practitioner_data(form)
            )
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"{p.display_name} can now be booked once they have weekly hours.", "success")
            return redirect(url_for("practice.practitioner_list"))
    else:
        status = _invalid_status(form)
    staff = {u.id: u for u in db.session.scalars(select(User).where(User.tenant_id == g.tenant.id))}
    unlinked = [
        u
        for u in staff.values()
        if u.role == "practitioner"
        and u.is_active
        and u.id not in {p.user_id for p in _practitioners()}
    ]
    return render_template(
        "admin/practice/practitioners.html",
        form=form,
        summary=summary,
        practitioners=_practitioners(),
        staff=staff,
        unlinked=sorted(unlinked, key=lambda u: u.name),
        button=ButtonForm(),
    ), status


def _practitioner_or_404(practitioner_id) -> Practitioner:
    p = get_practitioner_in_tenant(db.session, g.tenant.id, practitioner_id)
    if p is None:
        raise not_found("practitioner")
    return p


@bp.route("/practitioners/<uuid:practitioner_id>", methods=["GET", "POST"])
@requires("practice.manage")
def practitioner_edit(practitioner_id: uuid.UUID):
    """Change a practitioner's profile and the emails their staff account gets.

    The alert and agenda preferences are saved by the same verb as the API's PATCH
    (:func:`~saas.scheduling.practice.practitioners.update_practitioner`).
    """
    p = _practitioner_or_404(practitioner_id)
    form = PractitionerEditForm(obj=p, user_id=str(p.user_id) if p.user_id else "")
    form.user_id.choices = _staff_choices(p.user_id)
    summary, status = None, 200
    if form.validate_on_submit():
        data = {
            **_practitioner_data(form),
            "alerts_enabled": bool(form.alerts_enabled.data),
            "daily_agenda": bool(form.daily_agenda.data),
        }
        try:
            practitioners.update_practitioner(db.session, g.tenant, _actor(), p, data)
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"{p.display_name} saved.", "success")
            return redirect(url_for("practice.practitioner_list"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/practitioner_edit.html", form=form, summary=summary, p=p
    ), status


@bp.route("/practitioners/from-staff/<uuid:user_id>", methods=["POST"])
@requires("practice.manage")
def make_bookable(user_id: uuid.UUID):
    """Make a staff member bookable (a practitioner profile linked to their account)."""
    user = db.session.scalar(select(User).where(User.tenant_id == g.tenant.id, User.id == user_id))
    if user is None:
        raise not_found("staff member")
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        p = services.make_bookable(db.session, g.tenant, _actor(), user)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash(f"{p.display_name} is bookable. Now give them weekly hours.", "success")
    back = "console.staff" if request.form.get("back") == "staff" else "practice.practitioner_list"
    return redirect(url_for(back))


# -- archive / restore (locations, practitioners, visit types) -------------------------------
ARCHIVABLE = {
    "locations": (get_location_in_tenant, locations.update_location, "location_list", "name"),
    "practitioners": (
        get_practitioner_in_tenant,
        practitioners.update_practitioner,
        "practitioner_list",
        "display_name",
    ),
    "visit-types": (
        get_visit_type_in_tenant,
        visit_types.update_visit_type,
        "visit_type_list",
        "name",
    ),
}


@bp.route("/<kind>/<uuid:record_id>/<action>", methods=["POST"])
@requires("practice.manage")
def archive(kind: str, record_id: uuid.UUID, action: str):
    """Archive (no longer bookable, appointments keep it) or restore a record."""
    if kind not in ARCHIVABLE or action not in ("archive", "restore"):
        abort(404)
    get, update, endpoint, name_attr = ARCHIVABLE[kind]
    record = get(db.session, g.tenant.id, record_id)
    if record is None:
        raise not_found(kind.rstrip("s").replace("-", " "))
    if not ButtonForm().validate_on_submit():
        abort(400)
    name = getattr(record, name_attr)
    try:
        update(db.session, g.tenant, _actor(), record, {"is_active": action == "restore"})
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash(f"“{name}” {'archived' if action == 'archive' else 'restored'}.", "success")
    return redirect(url_for(f"practice.{endpoint}"))


# -- visit types -----------------------------------------------------------------------------
def _visit_type_choices(form: VisitTypeForm) -> None:
    form.practitioner_ids.choices = [
        SelectChoice(str(p.id), p.display_name) for p in _practitioners(active_only=True)
    ]
    form.location_ids.choices = [
        SelectChoice(
            str(loc.id), f"{loc.name} ({'video' if loc.kind == 'online' else 'in person'})"
        )
        for loc in _locations(active_only=True)
    ]


def _visit_type_data(form: VisitTypeForm) -> dict:
    def ids(values):
        out = []
        for v in values or []:
            try:
                out.append(uuid.UUID(v))
            except ValueError:
                continue
        return out

    return {
        "name": form.name.data,
        "description": (form.description.data or "").strip() or None,
        "duration_minutes": form.duration_minutes.data,
        "buffer_before_minutes": form.buffer_before_minutes.data or 0,
        "buffer_after_minutes": form.buffer_after_minutes.data or 0,
        "price_minor": int((form.price.data or Decimal(0)) * 100),
        "mode": form.mode.data,
        "new_patients_only": form.patients.data == "new",
        "returning_patients_only": form.patients.data == "returning",
        "requires_prepayment": bool(form.requires_prepayment.data)
        or form.payment_mode.data in ("deposit", "full"),
        # the older "patients pay when they book" box means full prepayment
        "payment_mode": "full"
        if form.requires_prepayment.data and form.payment_mode.data == "none"
        else form.payment_mode.data or "none",
        "deposit_minor": int(form.deposit.data * 100) if form.deposit.data else None,
        "deposit_percent": form.deposit_percent.data or None,
        "practitioner_ids": ids(form.practitioner_ids.data),
        "location_ids": ids(form.location_ids.data),
    }


def _save_follow_up(form: VisitTypeForm, vt: VisitType) -> None:
    booking_rules.set_booking_rules(
        db.session,
        g.tenant,
        _actor(),
        {
            "follow_up_min_days": form.follow_up_min_days.data,
            "follow_up_max_days": form.follow_up_max_days.data,
        },
        visit_type=vt,
    )


@bp.route("/visit-types")
@requires("practice.manage")
def visit_type_list():
    """What patients can book."""
    rows = []
    for vt in db.session.scalars(
        select(VisitType)
        .where(VisitType.tenant_id == g.tenant.id)
        .order_by(VisitType.is_active.desc(), VisitType.name)
    ):
        pids, lids = visit_type_links(db.session, g.tenant.id, vt.id)
        rows.append(
            {
                "vt": vt,
                "price": format_price(vt.price_minor, vt.currency),
                "practitioners": len(pids),
                "locations": len(lids),
            }
        )
    return render_template("admin/practice/visit_types.html", rows=rows, button=ButtonForm())


@bp.route("/visit-types/new", methods=["GET", "POST"])
@requires("practice.manage")
def visit_type_new():
    """Add a visit type."""
    form = VisitTypeForm()
    _visit_type_choices(form)
    if request.method == "GET":
        form.practitioner_ids.data = [c.value for c in form.practitioner_ids.choices]
        form.location_ids.data = [c.value for c in form.location_ids.choices][:1]
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            vt = visit_types.create_visit_type(
                db.session, g.tenant, _actor(), _visit_type_data(form)
            )
            _save_follow_up(form, vt)
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"Visit type “{vt.name}” added.", "success")
            return redirect(url_for("practice.visit_type_list"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/visit_type_edit.html",
        form=form,
        summary=summary,
        vt=None,
        currency=g.tenant.currency,
    ), status


@bp.route("/visit-types/<uuid:visit_type_id>", methods=["GET", "POST"])
@requires("practice.manage")
def visit_type_edit(visit_type_id: uuid.UUID):
    """Change a visit type, who offers it where, and its follow-up window."""
    vt = get_visit_type_in_tenant(db.session, g.tenant.id, visit_type_id)
    if vt is None:
        raise not_found("visit type")
    pids, lids = visit_type_links(db.session, g.tenant.id, vt.id)
    _, own = rule_rows(db.session, g.tenant.id, vt.id)
    form = VisitTypeForm(
        obj=vt,
        price=Decimal(vt.price_minor) / 100,
        deposit=Decimal(vt.deposit_minor) / 100 if vt.deposit_minor else None,
        patients="new"
        if vt.new_patients_only
        else "returning"
        if vt.returning_patients_only
        else "any",
        practitioner_ids=[str(i) for i in pids],
        location_ids=[str(i) for i in lids],
        follow_up_min_days=own.follow_up_min_days if own else None,
        follow_up_max_days=own.follow_up_max_days if own else None,
    )
    _visit_type_choices(form)
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            visit_types.update_visit_type(
                db.session, g.tenant, _actor(), vt, _visit_type_data(form)
            )
            _save_follow_up(form, vt)
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(f"Visit type “{vt.name}” saved.", "success")
            return redirect(url_for("practice.visit_type_list"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/visit_type_edit.html",
        form=form,
        summary=summary,
        vt=vt,
        currency=vt.currency,
    ), status


# -- weekly hours ----------------------------------------------------------------------------
def _pick(items, wanted):
    for item in items:
        if str(item.id) == (wanted or ""):
            return item
    return items[0] if items else None


@bp.route("/availability", methods=["GET", "POST"])
@requires("practice.manage")
def availability():
    """A practitioner's weekly hours at one location, as a grid (``?practitioner=&location=``)."""
    source = request.form if request.method == "POST" else request.args
    people, places, who, where = _who_and_where(source)
    form = ButtonForm()
    errors: dict[str, str] = {}
    summary, status = None, 200
    grid = _open_grid(who, where) if who and where else {}
    if request.method == "POST" and who and where:
        if not form.validate_on_submit():
            abort(400)
        grid, windows = {}, []
        for day in range(1, 8):
            for slot in range(GRID_SLOTS):
                key = f"d{day}_{slot}"
                start = (request.form.get(f"{key}_start") or "").strip()
                end = (request.form.get(f"{key}_end") or "").strip()
                grid[f"{key}_start"], grid[f"{key}_end"] = start, end
                if not start and not end:
                    continue
                try:
                    s, e = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
                except ValueError:
                    errors[key] = "Enter both a start and an end time, like 09:00 and 12:30."
                    continue
                if e <= s:
                    errors[key] = "The end must be after the start."
                    continue
                windows.append((day, slot, s, e))
        if not errors:
            try:
                services.set_weekly_hours(db.session, g.tenant, _actor(), who, where, windows)
            except DomainError as exc:
                refused(exc)  # roll back the windows already replaced
                errors = dict(exc.errors) or {"d0_0": exc.message}
            else:
                flash(
                    f"Weekly hours of {who.display_name} at {where.name} saved "
                    f"({len(windows)} window{'s' if len(windows) != 1 else ''}).",
                    "success",
                )
                return redirect(
                    url_for("practice.availability", practitioner=who.id, location=where.id)
                )
        summary = "Some hours could not be saved. Nothing was changed."
        status = 422
    return _availability_page(
        people, places, who, where, grid=grid, errors=errors, summary=summary, status=status
    )


def _availability_page(
    people,
    places,
    who,
    where,
    *,
    grid=None,
    errors=None,
    summary=None,
    status=200,
    dated_form=None,
    dated_summary=None,
):
    """The weekly hours page: the grid and the hours for a limited period."""
    if dated_form is None:
        dated_form = DatedHoursForm(formdata=None)
    return render_template(
        "admin/practice/availability.html",
        people=people,
        places=places,
        who=who,
        where=where,
        grid=grid or {},
        errors=errors or {},
        summary=summary,
        form=ButtonForm(),
        dated_form=dated_form,
        dated_summary=dated_summary,
        weekdays=WEEKDAYS,
        slots=range(GRID_SLOTS),
        dated=services.dated_windows(db.session, g.tenant.id, who.id) if who else [],
        place_names={loc.id: loc.name for loc in _locations()},
    ), status


def _who_and_where(source) -> tuple:
    """(people, places, practitioner, location) named by ``source``; 404 for another clinic's."""
    people = _practitioners(active_only=True)
    places = _locations(active_only=True)
    if source.get("practitioner") and not any(str(p.id) == source["practitioner"] for p in people):
        raise not_found("practitioner")
    if source.get("location") and not any(str(loc.id) == source["location"] for loc in places):
        raise not_found("location")
    return (
        people,
        places,
        _pick(people, source.get("practitioner")),
        _pick(places, source.get("location")),
    )


@bp.route("/availability/dated", methods=["POST"])
@requires("practice.manage")
def dated_hours_add():
    """Add a weekly window valid for a limited period (e.g. summer hours)."""
    people, places, who, where = _who_and_where(request.form)
    if who is None or where is None:
        raise not_found("practitioner")
    form = DatedHoursForm()
    summary, status = None, 422
    if form.validate_on_submit():
        data = {
            "practitioner_id": who.id,
            "location_id": where.id,
            "weekday": int(form.weekday.data),
            "start_time": form.start_time.data,
            "end_time": form.end_time.data,
            "valid_from": form.valid_from.data,
            "valid_until": form.valid_until.data,
        }
        try:
            availability_rules.create_availability_rule(db.session, g.tenant, _actor(), data)
        except DomainError as exc:
            summary, status = _failed(form, exc)
        else:
            flash(
                f"Hours from {form.valid_from.data.isoformat()} added for "
                f"{who.display_name} at {where.name}.",
                "success",
            )
            return redirect(
                url_for("practice.availability", practitioner=who.id, location=where.id)
            )
    elif not form.errors:
        abort(400)  # no CSRF token
    grid = _open_grid(who, where)
    return _availability_page(
        people,
        places,
        who,
        where,
        grid=grid,
        status=status,
        dated_form=form,
        dated_summary=summary or "The hours could not be added.",
    )


@bp.route("/availability/dated/<uuid:rule_id>/delete", methods=["POST"])
@requires("practice.manage")
def dated_hours_delete(rule_id: uuid.UUID):
    """Remove a window for a limited period."""
    w = availability_rules.get_availability_rule_in_tenant(db.session, g.tenant.id, rule_id)
    if w is None or (w.valid_from is None and w.valid_until is None):
        raise not_found("weekly window")
    if not ButtonForm().validate_on_submit():
        abort(400)
    availability_rules.delete_availability_rule(db.session, g.tenant, _actor(), w)
    flash("Those hours were removed.", "success")
    return redirect(
        url_for("practice.availability", practitioner=w.practitioner_id, location=w.location_id)
    )


def _open_grid(who, where) -> dict[str, str]:
    grid: dict[str, str] = {}
    for w in services.open_windows(db.session, g.tenant.id, who.id, where.id):
        slot = sum(1 for k in grid if k.startswith(f"d{w.weekday}_") and k.endswith("_start"))
        grid[f"d{w.weekday}_{slot}_start"] = w.start_time.strftime("%H:%M")
        grid[f"d{w.weekday}_{slot}_end"] = w.end_time.strftime("%H:%M")
    return grid


# -- closures and time off -------------------------------------------------------------------
def _closure_form() -> ClosureForm:
    form = ClosureForm(prefix="closure")
    form.location_id.choices = [SelectChoice("", "Every location")] + [
        SelectChoice(str(loc.id), loc.name) for loc in _locations(active_only=True)
    ]
    return form


def _time_off_form() -> TimeOffForm:
    form = TimeOffForm(prefix="off")
    form.practitioner_id.choices = [
        SelectChoice(str(p.id), p.display_name) for p in _practitioners(active_only=True)
    ]
    form.location_id.choices = [SelectChoice("", "Every location")] + [
        SelectChoice(str(loc.id), loc.name) for loc in _locations(active_only=True)
    ]
    return form


def _closures_page(closure_form, off_form, *, summary=None, status=200, confirm=None):
    zone = ZoneInfo(g.tenant.timezone)
    today = dt.datetime.now(zone).date()
    upcoming = list(
        db.session.scalars(
            select(Closure)
            .where(Closure.tenant_id == g.tenant.id, Closure.end_date >= today)
            .order_by(Closure.start_date)
        )
    )
    exceptions = list(
        db.session.scalars(
            select(AvailabilityException)
            .where(
                AvailabilityException.tenant_id == g.tenant.id,
                AvailabilityException.ends_at >= dt.datetime.now(dt.UTC),
            )
            .order_by(AvailabilityException.starts_at)
        )
    )
    return render_template(
        "admin/practice/closures.html",
        closure_form=closure_form,
        off_form=off_form,
        summary=summary,
        confirm=confirm,
        closures=upcoming,
        exceptions=exceptions,
        names={p.id: p.display_name for p in _practitioners()},
        places={loc.id: loc for loc in _locations()},
        zone=zone,
        as_zone=ZoneInfo,
        button=ButtonForm(),
    ), status


@bp.route("/closures")
@requires("practice.manage")
def closures_page():
    """Clinic closures and practitioners' time off and extra hours."""
    return _closures_page(_closure_form(), _time_off_form())


def _decisions(rows) -> tuple[dict, dict]:
    """The page's choice for each covered booking, and what is missing."""
    decisions, missing = {}, {}
    for r in rows:
        value = request.form.get(f"appt_{r[0].id}") or ""
        if not value:
            missing[f"appt_{r[0].id}"] = "Choose to cancel or move this booking."
        else:
            decisions[r[0].id] = value
    return decisions, missing


def _settle_or_confirm(kind, form, rows, blocked, save, reason):
    """Save ``save()`` with a decision for every covered booking, or ask for them first."""
    confirmed = request.form.get("confirmed") == "1"
    decisions, missing = _decisions(rows)
    if rows and (not confirmed or missing):
        return _confirm_page(kind, form, rows, blocked, missing if confirmed else {}, status=422)
    try:
        record = save()
        cancelled, moved = services.settle_bookings(
            db.session, g.tenant, _actor(), decisions, reason
        )
    except DomainError as exc:
        message = form_errors(form, exc)
        row_errors = {k: v for k, v in exc.errors.items() if k.startswith("appt_")}
        if row_errors:
            return _confirm_page(kind, form, rows, blocked, row_errors, status=status_of(exc))
        closure_form, off_form = _closure_form(), _time_off_form()
        if kind == "closure":
            closure_form = form
        else:
            off_form = form
        return _closures_page(closure_form, off_form, summary=message, status=status_of(exc))
    told = ""
    if cancelled or moved:
        told = f" {cancelled} booking(s) cancelled and {moved} moved; the patients are being told."
    flash(f"{record} saved.{told}", "success")
    return redirect(url_for("practice.closures_page"))


def _confirm_page(kind, form, rows, blocked, errors, status=200):
    items = services.covered(db.session, g.tenant, rows, blocked)
    closure_form, off_form = _closure_form(), _time_off_form()
    return _closures_page(
        closure_form,
        off_form,
        status=status if errors else 200,
        summary=(
            "Choose what happens to each booking below. Nothing is saved yet." if errors else None
        ),
        confirm={
            "kind": kind,
            "form": form,
            "items": items,
            "errors": errors,
            # what was typed, carried to the confirmation (the form's own prefix only)
            "hidden": [(k, v) for k, v in request.form.items() if k.startswith(f"{form._prefix}")],
        },
    )


@bp.route("/closures", methods=["POST"])
@requires("practice.manage")
def closure_add():
    """Close the clinic (or a location) on whole days; covered bookings are settled first."""
    form = _closure_form()
    if not form.validate_on_submit():
        return _closures_page(form, _time_off_form(), status=422)
    location_id = uuid.UUID(form.location_id.data) if form.location_id.data else None
    start, end = form.start_date.data, form.end_date.data or form.start_date.data
    if end < start:
        form.end_date.errors = ["The last day cannot be before the first day."]
        return _closures_page(form, _time_off_form(), status=422)
    rows = services.bookings_in_closure(db.session, g.tenant, start, end, location_id)
    places = {loc.id: loc for loc in _locations()}

    def blocked(slot) -> bool:
        loc = places.get(slot.location_id)
        local = slot.start.astimezone(ZoneInfo(loc.timezone if loc else g.tenant.timezone))
        return (location_id in (None, slot.location_id)) and start <= local.date() <= end

    def save():
        c = closures.create_closure(
            db.session,
            g.tenant,
            _actor(),
            {
                "name": form.name.data,
                "start_date": start,
                "end_date": end,
                "location_id": location_id,
            },
        )
        return f"Closure “{c.name}”"

    return _settle_or_confirm(
        "closure", form, rows, blocked, save, f"The clinic is closed ({form.name.data})."
    )


@bp.route("/time-off", methods=["POST"])
@requires("practice.manage")
def time_off_add():
    """A practitioner's time off or extra hours; covered bookings are settled first."""
    form = _time_off_form()
    if not form.validate_on_submit():
        return _closures_page(_closure_form(), form, status=422)
    practitioner = get_practitioner_in_tenant(db.session, g.tenant.id, form.practitioner_id.data)
    if practitioner is None:
        raise not_found("practitioner", "practitioner_id")
    location_id = uuid.UUID(form.location_id.data) if form.location_id.data else None
    loc = get_location_in_tenant(db.session, g.tenant.id, location_id) if location_id else None
    zone = ZoneInfo(loc.timezone if loc else g.tenant.timezone)
    start = availability_exceptions.localize(form.start.data, zone.key)
    end = availability_exceptions.localize(form.end.data, zone.key)
    rows = []
    if form.kind.data == "time_off" and end > start:
        rows = services.bookings_in_time_off(db.session, g.tenant, practitioner.id, start, end)

    def blocked(slot) -> bool:
        return slot.practitioner_id == practitioner.id and slot.start < end and start < slot.end

    def save():
        availability_exceptions.create_exception(
            db.session,
            g.tenant,
            _actor(),
            {
                "kind": form.kind.data,
                "practitioner_id": practitioner.id,
                "location_id": location_id,
                "start": form.start.data,
                "end": form.end.data,
                "reason": form.reason.data,
            },
        )
        what = "Time off" if form.kind.data == "time_off" else "Extra hours"
        return f"{what} for {practitioner.display_name}"

    return _settle_or_confirm(
        "time_off",
        form,
        rows,
        blocked,
        save,
        f"{practitioner.display_name} is not available at this time.",
    )


@bp.route("/closures/<uuid:closure_id>/delete", methods=["POST"])
@requires("practice.manage")
def closure_delete(closure_id: uuid.UUID):
    """Reopen: remove a closure."""
    c = closures.get_closure_in_tenant(db.session, g.tenant.id, closure_id)
    if c is None:
        raise not_found("closure")
    if not ButtonForm().validate_on_submit():
        abort(400)
    closures.delete_closure(db.session, g.tenant, _actor(), c)
    flash(f"Closure “{c.name}” removed: those days are open again.", "success")
    return redirect(url_for("practice.closures_page"))


@bp.route("/time-off/<uuid:exception_id>/delete", methods=["POST"])
@requires("practice.manage")
def time_off_delete(exception_id: uuid.UUID):
    """Remove time off or extra hours."""
    exc = availability_exceptions.get_exception_in_tenant(db.session, g.tenant.id, exception_id)
    if exc is None:
        raise not_found("time off")
    if not ButtonForm().validate_on_submit():
        abort(400)
    availability_exceptions.delete_exception(db.session, g.tenant, _actor(), exc)
    flash("Removed.", "success")
    return redirect(url_for("practice.closures_page"))


# -- booking rules ---------------------------------------------------------------------------
def _hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01")).normalize()


@bp.route("/booking-rules", methods=["GET", "POST"])
@requires("practice.manage")
def booking_rules_page():
    """The clinic's booking rules (visit types may override them)."""
    rules = effective_rules(db.session, g.tenant.id)
    form = RulesForm(
        slot_step_minutes=rules.slot_step_minutes,
        min_notice_hours=_hours(rules.min_notice_minutes),
        max_advance_days=rules.max_advance_days,
        cancellation_cutoff_hours=_hours(rules.cancellation_cutoff_minutes),
        reschedule_cutoff_hours=_hours(rules.reschedule_cutoff_minutes),
        late_fee=Decimal(rules.late_cancellation_fee_minor) / 100,
        hold_minutes=rules.hold_minutes,
    )
    summary, status = None, 200
    if form.validate_on_submit():
        values = {
            "slot_step_minutes": form.slot_step_minutes.data,
            "min_notice_minutes": int(form.min_notice_hours.data * 60),
            "max_advance_days": form.max_advance_days.data,
            "cancellation_cutoff_minutes": int(form.cancellation_cutoff_hours.data * 60),
            "reschedule_cutoff_minutes": int(form.reschedule_cutoff_hours.data * 60),
            "late_cancellation_fee_minor": int(form.late_fee.data * 100),
            "hold_minutes": form.hold_minutes.data,
        }
        try:
            booking_rules.set_booking_rules(db.session, g.tenant, _actor(), values)
        except DomainError as exc:
            summary, status = _failed(form, _rules_errors(exc))
        else:
            flash("Booking rules saved.", "success")
            return redirect(url_for("practice.booking_rules_page"))
    else:
        status = _invalid_status(form)
    return render_template(
        "admin/practice/booking_rules.html", form=form, summary=summary, currency=g.tenant.currency
    ), status


#: Form field -> (service field, factor from the form's unit to the service's).
OVERRIDES = {
    "slot_step_minutes": ("slot_step_minutes", 1),
    "min_notice_hours": ("min_notice_minutes", 60),
    "max_advance_days": ("max_advance_days", 1),
    "cancellation_cutoff_hours": ("cancellation_cutoff_minutes", 60),
    "reschedule_cutoff_hours": ("reschedule_cutoff_minutes", 60),
    "late_fee": ("late_cancellation_fee_minor", 100),
    "hold_minutes": ("hold_minutes", 1),
}


def _in_form_units(name: str, value):
    service, factor = OVERRIDES[name]
    if value is None:
        return None
    return _hours(value) if factor == 60 else Decimal(value) / 100 if factor == 100 else value


@bp.route("/visit-types/<uuid:visit_type_id>/booking-rules", methods=["GET", "POST"])
@requires("practice.manage")
def visit_type_rules(visit_type_id: uuid.UUID):
    """One visit type's own booking rules; each empty field follows the clinic's."""
    vt = get_visit_type_in_tenant(db.session, g.tenant.id, visit_type_id)
    if vt is None:
        raise not_found("visit type")
    clinic_rules = effective_rules(db.session, g.tenant.id)
    _, own = rule_rows(db.session, g.tenant.id, vt.id)
    form = RuleOverridesForm(
        **{
            name: _in_form_units(name, getattr(own, service) if own else None)
            for name, (service, _) in OVERRIDES.items()
        }
    )
    summary, status = None, 200
    if form.validate_on_submit():
        values = {}
        for name, (service, factor) in OVERRIDES.items():
            value = form[name].data
            values[service] = None if value is None else int(value * factor)
        try:
            booking_rules.set_booking_rules(db.session, g.tenant, _actor(), values, visit_type=vt)
        except DomainError as exc:
            summary, status = _failed(form, _rules_errors(exc))
        else:
            flash(f"Booking rules of “{vt.name}” saved.", "success")
            return redirect(url_for("practice.visit_type_rules", visit_type_id=vt.id))
    else:
        status = _invalid_status(form)
    defaults = {
        name: _in_form_units(name, getattr(clinic_rules, service))
        for name, (service, _) in OVERRIDES.items()
    }
    return render_template(
        "admin/practice/visit_type_rules.html",
        form=form,
        summary=summary,
        vt=vt,
        defaults=defaults,
        currency=g.tenant.currency,
    ), status


def _rules_errors(exc: DomainError) -> DomainError:
    """The service names minutes; the form asks for hours."""
    names = {
        "min_notice_minutes": "min_notice_hours",
        "cancellation_cutoff_minutes": "cancellation_cutoff_hours",
        "reschedule_cutoff_minutes": "reschedule_cutoff_hours",
        "late_cancellation_fee_minor": "late_fee",
    }
    return Invalid(
        {names.get(k, k): v for k, v in exc.errors.items()} or exc.message, reason=exc.reason
    )


# -- branding --------------------------------------------------------------------------------
BRANDING_KEYS = ("brand_color", "accent_color", "tagline", "welcome_text", "opening_hours")


def _branding_form(**kwargs) -> BrandingForm:
    """The branding form, the stored origins one per line."""
    data = settings.read(g.tenant, "branding")
    data["embed_origins"] = "\n".join(data.get("embed_origins") or [])
    return BrandingForm(data=data, **kwargs)


def _origins(text: str | None) -> list[str]:
    """The embedding origins typed one per line (blank lines dropped)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _embed_snippet() -> dict:
    """What the clinic copies to its web site: the frame and the optional resize script."""
    portal = request.host_url.rstrip("/")
    frame = (
        f'<iframe src="{portal}/book?embed=1" title="{g.tenant.name}: online booking" '
        'data-similia-embed style="width:100%;height:800px;border:0"></iframe>'
    )
    script = f'<script src="{portal}/portal/static/embed.js" defer></script>'
    return {"frame": frame, "script": script}


def _branding_page(form, logo_form, *, summary=None, status=200, suggestions=None):
    return render_template(
        "admin/practice/branding.html",
        form=form,
        logo_form=logo_form,
        summary=summary,
        suggestions=suggestions or {},
        logo=branding.get_logo_in_tenant(db.session, g.tenant.id),
        saved=settings.read(g.tenant, "branding"),
        button=ButtonForm(),
        snippet=_embed_snippet(),
    ), status


def _suggestions(form: BrandingForm) -> dict[str, str]:
    """For each colour refused for contrast, the nearest darker shade that passes."""
    out = {}
    for key in ("brand_color", "accent_color"):
        value = (form.data[key] or "").strip().lower()
        if branding.COLOR_RE.match(value) and branding.color_problem(value, key):
            out[key] = branding.darken_to_pass(value)
    return out


@bp.route("/branding", methods=["GET", "POST"])
@requires("settings.manage")
def branding_page():
    """Colours, texts and logo of the public page, with a preview of its header.

    A colour refused for contrast comes back with a button to use the nearest darker shade
    that passes (``use_suggested=<field>``): adjusted only when the person asks.
    """
    form = _branding_form()
    summary, status, suggestions = None, 200, {}
    if form.validate_on_submit():
        adjust = request.form.get("use_suggested")
        if adjust in ("brand_color", "accent_color"):
            field = getattr(form, adjust)
            if branding.COLOR_RE.match((field.data or "").strip()):
                field.data = branding.darken_to_pass(field.data.strip().lower())
        changes = {k: (form.data[k] or "").strip() for k in BRANDING_KEYS}
        changes["embed_origins"] = _origins(form.embed_origins.data)
        try:
            settings.update_settings(db.session, _tenant(), _actor(), "branding", changes)
        except DomainError as exc:
            summary, status = _failed(form, exc)
            suggestions = _suggestions(form)
        else:
            flash("Branding saved. Your public page shows it now.", "success")
            return redirect(url_for("practice.branding_page"))
    else:
        status = _invalid_status(form)
    return _branding_page(form, LogoForm(), summary=summary, status=status, suggestions=suggestions)


@bp.route("/branding/logo", methods=["POST"])
@limiter.limit("30/hour")
@requires("settings.manage")
def logo_upload():
    """Replace the logo with a cleaned copy of the uploaded PNG or JPEG."""
    form = LogoForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.logo.data
    raw = upload.read(branding.MAX_LOGO_BYTES + 1) if upload else b""
    try:
        branding.set_logo(db.session, g.tenant, _actor(), raw)
    except DomainError as exc:
        summary, status = _failed(form, exc)
        return _branding_page(
            _branding_form(formdata=None),
            form,
            summary=summary,
            status=status,
        )
    flash("Logo saved.", "success")
    return redirect(url_for("practice.branding_page"))


@bp.route("/branding/logo/delete", methods=["POST"])
@requires("settings.manage")
def logo_delete():
    """Remove the logo."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    branding.remove_logo(db.session, g.tenant, _actor())
    flash("Logo removed.", "success")
    return redirect(url_for("practice.branding_page"))
