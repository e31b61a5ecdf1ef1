"""Patient pages of the console: list, patient page, chart, follow-ups, data rights.

Thin like the API views (``admin.clinic.records.api``): objects are resolved *in the clinic*
(``saas.records.queries.access_*``: one 404 for "missing" and "another clinic's"), every rule is
the records services' (they check the role again and audit each clinical read), and the
request owns the transaction. The patient page renders the chart only for roles the clinic
lets read clinical content (:func:`saas.records.policy.can_read_clinical`): for the others
the section is not in the HTML at all.

Drafts: ``POST /console/patients/visits/<id>/draft`` (form fields and CSRF like any form) saves
the note's text as a new version of an unsigned visit when it changed; a signed note is
never autosaved (an amendment needs a reason and a deliberate save). The page's ES module
(``static/chart.js``) posts it and, when the session has ended (a redirect to sign-in or a
refused CSRF token), keeps the text in the browser's ``localStorage`` and says so.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from admin.clinic import TEMPLATES
from admin.clinic.appointments.queries import digits, patients_by_phone
from admin.clinic.forms import PlainForm
from admin.clinic.staff.views import note_session
from billing.services import patient_balance
from saas import db
from saas.errors import form_errors, refused, status_of
from saas.exceptions import DomainError
from saas.extensions import csrf
from saas.money import format_price
from saas.records import attachments as attachment_svc
from saas.records import consents as consent_svc
from saas.records import followups, queries, services
from saas.records.models import CaseNote
from saas.records.policy import can_read_clinical, clinical_level
from saas.records.sealing import open_json
from saas.scheduling.models import VisitType
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import notes
from .forms import ConsentForm, NoteForm, PrescriptionForm, UploadForm
from .queries import FILTERS, RECALL_WITHIN_DAYS, appointments_of_patient, list_filter

bp = Blueprint(
    "patients",
    __name__,
    url_prefix="/console",
    template_folder=TEMPLATES,
    static_folder=str(Path(__file__).parent / "static"),
    static_url_path="/patients-static",
)
serve_on(bp, CLINIC)
bp.before_request(note_session)
PAGE = 25


def _zone() -> ZoneInfo:
    return ZoneInfo(g.tenant.timezone)


def _clinical() -> bool:
    return can_read_clinical(g.tenant, current_user)


def _writes_clinical() -> bool:
    return clinical_level(g.tenant, current_user.role) == "write"


def _require_clinical(*, write: bool = False) -> None:
    """404 rather than 403 for clinical pages a role cannot open (nothing to learn)."""
    if not (_writes_clinical() if write else _clinical()):
        abort(404)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# -- the list --------------------------------------------------------------------------------------
@bp.route("/patients")
@requires("patients.view")
def patient_list():
    """Search by name, exact email or phone; filter; page."""
    q = (request.args.get("q") or "").strip()[:160]
    which = request.args.get("filter", "")
    which = which if which in FILTERS else ""
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10000))
    except ValueError:
        page = 1
    read_as, total, rows = "name", 0, []
    if "@" in q:
        read_as = "email"
        total, rows = queries.patients_page(
            db.session, g.tenant, current_user, email=q, where=list_filter(g.tenant, which)
        )
    elif q and len(digits(q)) >= 6 and not any(c.isalpha() for c in q):
        read_as = "phone"
        rows = patients_by_phone(db.session, g.tenant, current_user, q)
        total = len(rows)
        rows = rows[:PAGE]
    else:
        total, rows = queries.patients_page(
            db.session,
            g.tenant,
            current_user,
            q=q or None,
            where=list_filter(g.tenant, which),
            offset=(page - 1) * PAGE,
            limit=PAGE,
        )
    pages = max(1, -(-total // PAGE))
    return render_template(
        "admin/patients/list.html",
        q=q,
        which=which,
        filters=FILTERS,
        read_as=read_as,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
    )


# -- the patient page ------------------------------------------------------------------------------
@bp.route("/patients/<uuid:patient_id>")
@requires("patients.view")
def patient(patient_id: uuid.UUID):
    """Demographics, visits, consents; the chart for clinical roles; data rights."""
    return _patient_page(patient_id)


def _patient_page(patient_id, *, upload=None, consent=None, status: int = 200):
    p = queries.access_patient(db.session, g.tenant, patient_id, include_erased=True)
    if p.status == "erased":
        return rights.erased_page(p), status
    details = queries.read_demographics(db.session, g.tenant, current_user, p)
    record = attachments = None
    if _clinical():
        record = queries.read_patient_record(db.session, g.tenant, current_user, p)
        attachments = attachment_svc.list_attachments(db.session, g.tenant, current_user, p)
    return (
        render_template(
            "admin/patients/patient.html",
            p=p,
            details=details,
            visits=appointments_of_patient(db.session, g.tenant, p),
            record=record,
            attachments=attachments,
            consents=consent_svc.list_consents(db.session, g.tenant, p),
            **rights.data_rights(p),
            upload=upload or UploadForm(),
            consent_form=consent or ConsentForm(),
            button=PlainForm(),
            clinical=record is not None,
            writes=_writes_clinical(),
            zone=_zone(),
            balance=_balance(p),
        ),
        status,
    )


def _balance(p) -> dict:
    """The patient's online payments, formatted in the clinic's currency."""
    found = patient_balance(db.session, g.tenant.id, p.id)
    currency = g.tenant.currency
    return {
        "payments": found["payments"],
        "awaiting": format_price(found["awaiting"], currency) if found["awaiting"] else None,
        "paid": format_price(found["paid"], currency),
    }


# -- visits and case notes -------------------------------------------------------------------------
def _visit_types():
    return list(
        db.session.scalars(
            select(VisitType)
            .where(VisitType.tenant_id == g.tenant.id, VisitType.is_active.is_(True))
            .order_by(VisitType.name, VisitType.id)
        )
    )


def _rx_form(formdata=None) -> PrescriptionForm:
    form = PrescriptionForm(formdata=formdata) if formdata is not None else PrescriptionForm()
    form.follow_up_service_id.choices = [SelectChoice("", "Any visit type")] + [
        SelectChoice(str(v.id), v.name) for v in _visit_types()
    ]
    return form


@bp.route("/patients/<uuid:patient_id>/visits/new", methods=["GET", "POST"])
@requires("clinical.write")
def new_visit(patient_id: uuid.UUID):
    """Open a visit's record with its first case-note version."""
    _require_clinical(write=True)
    p = queries.access_patient(db.session, g.tenant, patient_id)
    form = NoteForm()
    status = 200
    if request.method == "GET":
        form.appointment_id.data = request.args.get("appointment", "")
        if request.args.get("kind") in ("initial", "follow_up", "acute"):
            form.kind.data = request.args["kind"]
    elif form.validate_on_submit():
        try:
            visit = services.record_visit_note(
                db.session,
                g.tenant,
                current_user,
                p,
                kind=form.kind.data,
                visit_date=form.visit_date.data,
                sections=notes.from_form(form.data) or None,
                appointment_id=_uuid(form.appointment_id.data),
            )
        except DomainError as exc:
            form_errors(form, exc)
            status = status_of(exc)
        else:
            flash("Case note saved.", "success")
            return redirect(url_for("patients.visit", visit_id=visit.id))
    else:
        status = 422
    return render_template(
        "admin/patients/visit.html", p=p, v=None, form=form, rx_form=None, fields=notes.FIELDS
    ), status


def _visit_page(visit_id, *, form=None, rx_form=None, status: int = 200):
    _require_clinical()
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    p = queries.access_patient(db.session, g.tenant, visit.patient_id)
    v = queries.read_visit(db.session, g.tenant, current_user, visit)
    if form is None:
        form = NoteForm(
            formdata=None,
            data={
                **notes.to_form(v["note"]["sections"] if v["note"] else None),
                "kind": v["kind"],
                "expected_version": v["versions"][-1]["version"] if v["versions"] else 0,
            },
        )
    return (
        render_template(
            "admin/patients/visit.html",
            p=p,
            v=v,
            visit=visit,
            form=form,
            rx_form=rx_form or _rx_form(),
            fields=notes.FIELDS,
            note_text=notes.as_text(v["note"]["sections"]) if v["note"] else "",
            writes=_writes_clinical(),
            button=PlainForm(),
            zone=_zone(),
        ),
        status,
    )


@bp.route("/patients/visits/<uuid:visit_id>", methods=["GET", "POST"])
@requires("clinical.read")
def visit(visit_id: uuid.UUID):
    """The visit's note (edit: a new version; once signed, an amendment with a reason)."""
    if request.method == "GET":
        return _visit_page(visit_id)
    _require_clinical(write=True)
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _visit_page(visit_id, form=form, status=422)
    sections = notes.from_form(form.data, _current_sections(visit))
    try:
        _save_note(visit, form, sections, reason=form.reason.data)
    except DomainError as exc:
        form_errors(form, exc)
        return _visit_page(visit_id, form=form, status=status_of(exc))
    flash("Amendment saved." if visit.status == "signed" else "Case note saved.", "success")
    return redirect(url_for("patients.visit", visit_id=visit.id))


def _save_note(visit, form: NoteForm, sections: dict, *, reason: str | None = None):
    """A new version of the visit's note from ``form`` (the page's save and the autosave)."""
    expected = form.expected_version.data
    return services.amend_note(
        db.session,
        g.tenant,
        current_user,
        visit,
        sections,
        reason=reason,
        expected_version=int(expected) if expected else None,
    )


def _current_sections(visit) -> dict:
    note = db.session.scalar(
        select(CaseNote)
        .where(CaseNote.tenant_id == g.tenant.id, CaseNote.visit_id == visit.id)
        .order_by(CaseNote.version.desc())
        .limit(1)
    )
    if note is None:
        return {}
    return open_json(db.session, g.tenant.id, "case_notes", "body", note.id, note.body) or {}


@bp.route("/patients/visits/<uuid:visit_id>/draft", methods=["POST"])
@requires("clinical.write")
def save_draft(visit_id: uuid.UUID):
    """Autosave of an unsigned note (JSON answer for the page's script).

    Exempt from the app-wide CSRF check so that a signed-out browser is answered first by
    :func:`requires` (a redirect to sign-in: the script then keeps the text and asks to sign
    in again); the same CSRF check then runs first thing for a signed-in member.
    """
    csrf.protect()
    _require_clinical(write=True)
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    form = NoteForm()
    if visit.status == "signed":
        return jsonify(saved=False, message="A signed note is amended with a reason."), 409
    if not form.validate_on_submit():
        return jsonify(saved=False, errors=form.errors), 422
    previous = _current_sections(visit)
    sections = notes.from_form(form.data, previous)
    if sections == previous:
        return jsonify(saved=False, version=int(form.expected_version.data or 0))
    try:
        note = _save_note(visit, form, sections)
    except DomainError as exc:
        message = refused(exc)  # rolls the refused write back
        return jsonify(saved=False, errors=exc.errors, message=message), status_of(exc)
    return jsonify(saved=True, version=note.version)


csrf.exempt(save_draft)


@bp.route("/patients/visits/<uuid:visit_id>/sign", methods=["POST"])
@requires("clinical.write")
def sign(visit_id: uuid.UUID):
    """Sign and lock the note."""
    _require_clinical(write=True)
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        services.sign_visit(db.session, g.tenant, current_user, visit)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Signed. Later changes are amendments with a reason.", "success")
    return redirect(url_for("patients.visit", visit_id=visit.id))


@bp.route("/patients/visits/<uuid:visit_id>/history")
@requires("clinical.read")
def history(visit_id: uuid.UUID):
    """Every version: who, when, why, and what changed."""
    _require_clinical()
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    p = queries.access_patient(db.session, g.tenant, visit.patient_id)
    v = queries.read_visit(db.session, g.tenant, current_user, visit)
    versions, previous = [], None
    for meta in v["versions"]:
        full = queries.read_note_version(db.session, g.tenant, current_user, visit, meta["version"])
        versions.append(
            {
                **full,
                "text": notes.as_text(full["sections"]),
                "diff": notes.diff(
                    previous,
                    full["sections"],
                    f"version {meta['version'] - 1}",
                    f"version {meta['version']}",
                ),
            }
        )
        previous = full["sections"]
    return render_template(
        "admin/patients/history.html", p=p, v=v, versions=list(reversed(versions)), zone=_zone()
    )


@bp.route("/patients/visits/<uuid:visit_id>/prescriptions", methods=["POST"])
@requires("clinical.write")
def prescribe(visit_id: uuid.UUID):
    """Prescribe a remedy; the follow-up window feeds the recall list."""
    _require_clinical(write=True)
    visit = queries.access_visit(db.session, g.tenant, visit_id)
    form = _rx_form(request.form)
    if not form.validate_on_submit():
        return _visit_page(visit_id, rx_form=form, status=422)
    data = {
        "remedy": form.remedy.data.strip(),
        "potency": form.potency.data.strip().upper().replace(" ", ""),
        "form": form.form.data or None,
        "dose": form.dose.data,
        "frequency": form.frequency.data,
        "start_date": form.start_date.data,
        "follow_up_from_days": form.follow_up_from_days.data,
        "follow_up_to_days": form.follow_up_to_days.data,
        "follow_up_service_id": _uuid(form.follow_up_service_id.data),
        "amendment_reason": form.amendment_reason.data,
    }
    try:
        services.add_prescription(db.session, g.tenant, current_user, visit, data)
    except DomainError as exc:
        form_errors(form, exc)
        return _visit_page(visit_id, rx_form=form, status=status_of(exc))
    flash(f"Prescribed {data['remedy']} {data['potency']}.", "success")
    return redirect(url_for("patients.visit", visit_id=visit.id))


# -- attachments and consents ----------------------------------------------------------------------
def _patient_form_done(p, slot: str, form, call, done: str, section: str):
    """Run a patient-page form's service call: back to the page with its errors, or on.

    ``slot`` is the :func:`_patient_page` keyword the form fills (``upload``, ``consent``).
    """
    try:
        call()
    except DomainError as exc:
        form_errors(form, exc)
        return _patient_page(p.id, **{slot: form}, status=status_of(exc))
    flash(done, "success")
    return redirect(url_for("patients.patient", patient_id=p.id) + section)


@bp.route("/patients/<uuid:patient_id>/attachments", methods=["POST"])
@requires("clinical.write")
def upload(patient_id: uuid.UUID):
    """Upload a PDF or image (type sniffed from the content)."""
    _require_clinical(write=True)
    p = queries.access_patient(db.session, g.tenant, patient_id)
    form = UploadForm()
    if not form.validate_on_submit():
        return _patient_page(patient_id, upload=form, status=422)
    file = request.files.get("file")
    if file is None or not file.filename:
        form.file.errors = ["Choose a file."]
        return _patient_page(patient_id, upload=form, status=422)
    return _patient_form_done(
        p,
        "upload",
        form,
        lambda: attachment_svc.add_attachment(
            db.session,
            g.tenant,
            current_user,
            p,
            filename=file.filename,
            data=file.read(attachment_svc.MAX_BYTES + 1),
        ),
        "File added to the record.",
        "#attachments",
    )


@bp.route("/patients/attachments/<uuid:attachment_id>")
@requires("clinical.read")
def attachment(attachment_id: uuid.UUID):
    """Download an attachment (never shown inline)."""
    _require_clinical()
    att = queries.access_attachment(db.session, g.tenant, attachment_id)
    name, data = attachment_svc.read_attachment(db.session, g.tenant, current_user, att)
    return attachment_svc.download_response(name, att.content_type, data)


@bp.route("/patients/<uuid:patient_id>/consents", methods=["POST"])
@requires("patients.manage")
def consent(patient_id: uuid.UUID):
    """Record a consent given."""
    p = queries.access_patient(db.session, g.tenant, patient_id)
    form = ConsentForm()
    if not form.validate_on_submit():
        return _patient_page(patient_id, consent=form, status=422)
    return _patient_form_done(
        p,
        "consent",
        form,
        lambda: consent_svc.record_consent(
            db.session,
            g.tenant,
            p,
            purpose=form.purpose.data,
            text_version=form.text_version.data.strip(),
            channel=form.channel.data,
            actor=current_user,
        ),
        "Consent recorded.",
        "#consents",
    )


@bp.route("/patients/consents/<uuid:consent_id>/withdraw", methods=["POST"])
@requires("patients.manage")
def withdraw(consent_id: uuid.UUID):
    """Record that the patient withdrew a consent."""
    c = queries.access_consent(db.session, g.tenant, consent_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    channel = request.form.get("channel", "in_person")
    try:
        consent_svc.withdraw_consent(db.session, g.tenant, c, channel=channel, actor=current_user)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Withdrawal recorded.", "success")
    return redirect(url_for("patients.patient", patient_id=c.patient_id) + "#consents")


# -- follow-ups ------------------------------------------------------------------------------------
@bp.route("/follow-ups")
@requires("schedule.view")
def recalls():
    """Patients whose follow-up window is open (or opens soon) and who have no booking."""
    items = followups.recall_list(
        db.session,
        g.tenant,
        current_user,
        within_days=RECALL_WITHIN_DAYS,
        include_clinical=_clinical(),
    )
    profiles = followups.practitioner_ids_for_users(
        db.session, g.tenant, {i["practitioner_id"] for i in items}
    )
    for item in items:
        params = {"patient": item["patient_id"]}
        if item["follow_up_service_id"]:
            params["service"] = item["follow_up_service_id"]
        if profiles.get(item["practitioner_id"]):
            params["practitioner"] = profiles[item["practitioner_id"]]
        if item["status"] == "upcoming":
            params["date"] = item["follow_up_from"].isoformat()
        item["book_now"] = url_for("calendar.book", **params)
    return render_template(
        "admin/patients/followups.html", items=items, button=PlainForm(), clinical=_clinical()
    )


@bp.route("/follow-ups/<uuid:rx_id>/invite", methods=["POST"])
@requires("appointments.manage")
def invite(rx_id: uuid.UUID):
    """Email the patient an invitation to book (through the outbox)."""
    rx = queries.access_prescription(db.session, g.tenant, rx_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        followups.invite_follow_up(db.session, g.tenant, current_user, rx)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Invitation sent.", "success")
    return redirect(url_for("patients.recalls"))


from . import rights  # noqa: E402,F401  (its routes are on this blueprint)
