"""Data rights pages of the console: export, erasure, legal hold, retention settings.

Routes on the patient pages' blueprint (:mod:`admin.clinic.patients.views`). Every rule is the
service's, shared with the API: :mod:`saas.records.gdpr` (export, erasure) and
:mod:`saas.records.retention` (what erasure keeps, the legal hold); the page shows what the
service decided and what it refused. The retention setting goes through the settings
registry like ``PUT /api/v1/records/settings`` (owners only change it).
"""

from __future__ import annotations

import io
import uuid

from flask import abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import func, select

from admin.clinic.forms import PlainForm
from saas import db, settings
from saas.actors import as_actor
from saas.errors import form_errors, refused, status_of
from saas.exceptions import DomainError
from saas.models import Patient
from saas.records import gdpr, queries, retention
from saas.records.models import CaseNote, ClinicalVisit, Prescription, RecordExport
from saas.records.settings import RECORDS
from saas.security.rbac import can, requires

from .forms import EraseForm, LegalHoldForm, RetentionForm
from .views import _zone, bp

#: Exports listed on the patient page (newest first).
EXPORTS_SHOWN = 5


def _to_patient(patient_id) -> str:
    return url_for("patients.patient", patient_id=patient_id) + "#data-rights"


def data_rights(p: Patient) -> dict:
    """What the patient page's data-rights section shows to the signed-in member."""
    exports = []
    if can(current_user.role, "records.export"):
        exports = list(
            db.session.scalars(
                select(RecordExport)
                .where(
                    RecordExport.tenant_id == g.tenant.id,
                    RecordExport.patient_id == p.id,
                    RecordExport.requested_by_patient.is_(False),
                )
                .order_by(RecordExport.created_at.desc())
                .limit(EXPORTS_SHOWN)
            )
        )
    hold = None
    if can(current_user.role, "patients.erase") or can(current_user.role, "patients.legal_hold"):
        hold = retention.legal_hold(db.session, g.tenant, p)
        if hold and not can(current_user.role, "patients.legal_hold"):
            hold = {**hold, "reason": None}  # only owners read why
    return {"exports": exports, "hold": hold, "hold_form": LegalHoldForm()}


def erased_page(p: Patient):
    """An erased patient: when, and what the law keeps until when (no personal data)."""
    kept = None
    if p.records_kept_until is not None:
        tid = g.tenant.id
        kept = {
            "until": p.records_kept_until,
            "visits": db.session.scalar(
                select(func.count())
                .select_from(ClinicalVisit)
                .where(ClinicalVisit.tenant_id == tid, ClinicalVisit.patient_id == p.id)
            ),
            "notes": db.session.scalar(
                select(func.count(func.distinct(CaseNote.visit_id)))
                .join(
                    ClinicalVisit,
                    (ClinicalVisit.tenant_id == CaseNote.tenant_id)
                    & (ClinicalVisit.id == CaseNote.visit_id),
                )
                .where(CaseNote.tenant_id == tid, ClinicalVisit.patient_id == p.id)
            ),
            "prescriptions": db.session.scalar(
                select(func.count())
                .select_from(Prescription)
                .where(Prescription.tenant_id == tid, Prescription.patient_id == p.id)
            ),
        }
    return render_template(
        "admin/patients/erased.html",
        p=p,
        kept=kept,
        years=retention.retention_years(g.tenant),
        button=PlainForm(),
        zone=_zone(),
        **data_rights(p),
    )


# -- export ----------------------------------------------------------------------------------------
@bp.route("/patients/<uuid:patient_id>/export", methods=["POST"])
@requires("records.export")
def request_export(patient_id: uuid.UUID):
    """Queue an export of the patient's data."""
    p = queries.access_patient(db.session, g.tenant, patient_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    gdpr.request_export(db.session, g.tenant, current_user, p)
    flash("Export requested. It is prepared in the background; reload to download it.", "success")
    return redirect(_to_patient(p.id))


@bp.route("/patients/exports/<uuid:export_id>/download")
@requires("records.export")
def download_export(export_id: uuid.UUID):
    """Download a ready export (once; then it is destroyed)."""
    export = gdpr.access_export(db.session, g.tenant, export_id)
    try:
        data = gdpr.download_export(db.session, g.tenant, current_user, export)
    except DomainError as exc:
        flash(refused(exc), "error")
        return redirect(_to_patient(export.patient_id))
    return send_file(
        io.BytesIO(data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"patient-{export.patient_id}.zip",
        max_age=0,
    )


# -- erasure ---------------------------------------------------------------------------------------
@bp.route("/patients/<uuid:patient_id>/erase", methods=["GET", "POST"])
@requires("patients.erase")
def erase(patient_id: uuid.UUID):
    """Erase a patient: reason, reference, and the name typed to confirm."""
    p = queries.access_patient(db.session, g.tenant, patient_id)
    form = EraseForm()
    status, summary = 200, None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                gdpr.erase_patient(
                    db.session,
                    g.tenant,
                    current_user,
                    p,
                    reason=form.reason.data,
                    reference=form.reference.data or None,
                    confirm_name=form.confirm_name.data,
                )
            except DomainError as exc:
                summary = form_errors(form, exc)
                status = status_of(exc)
                p = queries.access_patient(db.session, g.tenant, patient_id)
            else:
                flash("The patient's personal data was erased.", "success")
                return redirect(url_for("patients.patient", patient_id=p.id))
        else:
            status = 422
    elif p.legal_hold_at is not None:
        summary = _hold_refusal(p)
    return render_template(
        "admin/patients/erase.html",
        p=p,
        form=form,
        summary=summary,
        held=p.legal_hold_at is not None,
        kept_until=retention.records_kept_until(db.session, g.tenant, p),
        years=retention.retention_years(g.tenant),
    ), status


def _hold_refusal(p: Patient) -> str:
    try:
        retention.refuse_if_held(p)
    except DomainError as exc:
        return exc.message
    return ""


# -- legal hold ------------------------------------------------------------------------------------
@bp.route("/patients/<uuid:patient_id>/legal-hold", methods=["POST"])
@requires("patients.legal_hold")
def legal_hold(patient_id: uuid.UUID):
    """Place a legal hold with its reason (owners); also on the kept record of an erased one."""
    p = queries.access_patient(db.session, g.tenant, patient_id, include_erased=True)
    form = LegalHoldForm()
    if not form.validate_on_submit():
        flash(" ".join(form.reason.errors) or "The form expired; try again.", "error")
        return redirect(_to_patient(p.id))
    try:
        retention.place_legal_hold(db.session, g.tenant, current_user, p, reason=form.reason.data)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Legal hold placed: this patient cannot be erased until it is released.", "success")
    return redirect(_to_patient(p.id))


@bp.route("/patients/<uuid:patient_id>/legal-hold/release", methods=["POST"])
@requires("patients.legal_hold")
def release_legal_hold(patient_id: uuid.UUID):
    """Release the legal hold (owners)."""
    p = queries.access_patient(db.session, g.tenant, patient_id, include_erased=True)
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        retention.release_legal_hold(db.session, g.tenant, current_user, p)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Legal hold released.", "success")
    return redirect(_to_patient(p.id))


# -- retention settings ----------------------------------------------------------------------------
@bp.route("/patients/retention", methods=["GET", "POST"])
@requires("settings.manage")
def retention_settings():
    """How long clinical records are kept, what erasure keeps (owners change it)."""
    current = retention.retention_years(g.tenant)
    proposed = retention.country_default(g.tenant)
    form = RetentionForm(data={"retention_years": current or (proposed and proposed.years)})
    status, summary = 200, None
    if request.method == "POST":
        if form.validate_on_submit():
            g.tenant = db.session.merge(g.tenant)
            try:
                gdpr.update_records_settings(
                    db.session,
                    g.tenant,
                    current_user,
                    {"retention_years": form.retention_years.data},
                )
            except DomainError as exc:
                summary, status = form_errors(form, exc), status_of(exc)
            else:
                flash("Retention saved.", "success")
                return redirect(url_for("patients.retention_settings"))
        else:
            status = 422
    return render_template(
        "admin/patients/retention.html",
        form=form,
        summary=summary,
        current=current,
        proposed=proposed,
        may_change=settings.may_change(as_actor(current_user), RECORDS.name, "retention_years"),
    ), status
