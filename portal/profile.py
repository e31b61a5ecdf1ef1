"""Profile: contact details and consents (given and withdrawn), through the records services.

Consent wording has a version label (:data:`CONSENT_TEXT_VERSION`) stored with each consent,
so a later change of wording is a new consent, as :mod:`saas.records.consents` records it.
"""

from __future__ import annotations

import uuid

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from saas import db, errors, settings
from saas.exceptions import DomainError, NotFound
from saas.extensions import limiter
from saas.models import utcnow
from saas.patients import register_patient
from saas.records import consents as consent_svc
from saas.records import gdpr
from saas.records import queries as record_queries
from saas.records import services as record_services
from saas.security import patient_totp

from .blueprint import bp
from .data_requests import KINDS, request_data_action
from .forms import ActionForm, ProfileForm
from .session import current_patient, patient_required

CONSENT_TEXT_VERSION = "portal-2026-11"
#: What each purpose means, in the words the patient agrees to.
CONSENTS = {
    "reminders_email": _l("Send me appointment reminders and follow-up invitations by email."),
    "reminders_sms": _l("Send me appointment reminders by text message."),
    "marketing_email": _l("Send me the clinic's news by email."),
}


@bp.route("/profile", methods=["GET", "POST"])
@patient_required
def profile():
    """Name and phone; the email is the sign-in identity and is changed by the clinic."""
    patient = current_patient()
    details = record_queries.demographics(db.session, patient)
    form = ProfileForm(data={"full_name": details["full_name"], "phone": details["phone"]})
    message = None
    if form.validate_on_submit():
        try:
            record_services.update_demographics(
                db.session,
                g.tenant,
                patient,
                {"full_name": form.full_name.data, "phone": form.phone.data or None},
                actor=patient,
            )
        except DomainError as exc:
            message = errors.form_errors(form, exc)
        else:
            flash(_("Your details are saved."), "success")
            return redirect(url_for("portal.profile"))
    standing = {
        c.purpose
        for c in consent_svc.list_consents(db.session, g.tenant, patient)
        if getattr(c, "withdrawn_at", None) is None
    }
    return (
        render_template(
            "portal/profile.html",
            form=form,
            message=message,
            email=details["email"],
            consents=CONSENTS,
            standing=standing,
            action=ActionForm(),
            retention_years=settings.read(g.tenant, "records").get("retention_years"),
            export=_export_view(gdpr.latest_own_export(db.session, g.tenant, patient)),
            two_step_since=patient.totp_enabled_at if patient_totp.is_on(patient) else None,
        ),
        422 if (form.errors or message) else 200,
    )


@bp.route("/profile/consents/<purpose>", methods=["POST"])
@patient_required
def consent(purpose):
    """Give or withdraw one consent (``give=1`` gives it)."""
    form = ActionForm()
    if purpose not in CONSENTS or not form.validate_on_submit():
        return render_template("portal/link_invalid.html", what="consent"), 404
    patient = current_patient()
    try:
        if request.form.get("give") == "1":
            consent_svc.record_consent(
                db.session,
                g.tenant,
                patient,
                purpose=purpose,
                text_version=CONSENT_TEXT_VERSION,
                channel="portal",
                actor=patient,
            )
            flash(_("Thank you: your consent is recorded."), "success")
        else:
            current = consent_svc.standing_consent(db.session, g.tenant.id, patient.id, purpose)
            if current is not None:
                consent_svc.withdraw_consent(
                    db.session, g.tenant, current, channel="portal", actor=patient
                )
            flash(_("Your consent is withdrawn."), "success")
    except DomainError as exc:
        flash(errors.refused(exc), "error")
    return redirect(url_for("portal.profile"))


@bp.route("/profile/data/<kind>", methods=["POST"])
@patient_required
@limiter.limit("5/day", methods=["POST"])
def data_request(kind):
    """Ask the clinic for a copy of my data, or to delete my account."""
    form = ActionForm()
    if kind not in KINDS or not form.validate_on_submit():
        return render_template("portal/link_invalid.html", what="request"), 404
    request_data_action(db.session, g.tenant, current_patient(), kind)
    if kind == "export":
        gdpr.request_own_export(db.session, g.tenant, current_patient())
        flash(
            _("We are preparing your copy. We email you when you can download it here."),
            "success",
        )
    else:
        flash(
            _("Your request is sent. The clinic confirms the deletion with you within a month."),
            "success",
        )
    return redirect(url_for("portal.profile"))


def _export_view(export) -> dict | None:
    """What the profile shows of the patient's latest copy: preparing, ready, or nothing."""
    if export is None:
        return None
    if export.status == "pending":
        return {"state": "pending", "export": export}
    if export.status == "ready" and export.expires_at and export.expires_at > utcnow():
        return {"state": "ready", "export": export}
    return {"state": export.status, "export": export}


@bp.route("/profile/data/export/<export_id>", methods=["POST"])
@patient_required
@limiter.limit("10/hour", methods=["POST"])
def export_download(export_id):
    """Download my copy, once; another patient's or clinic's id is the same 404."""
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("portal/link_invalid.html", what="request"), 400
    try:
        wanted = uuid.UUID(export_id)
    except ValueError:
        return render_template("portal/link_invalid.html", what="request"), 404
    patient = current_patient()
    try:
        export = gdpr.access_own_export(db.session, g.tenant, patient, wanted)
        data = gdpr.download_own_export(db.session, g.tenant, patient, export)
    except NotFound:
        return render_template("portal/link_invalid.html", what="request"), 404
    except DomainError as exc:
        flash(errors.refused(exc), "error")
        return redirect(url_for("portal.profile", _anchor="your-data"))
    resp = Response(data, mimetype="application/zip")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="my-data-{g.tenant.slug}-{export.id.hex[:8]}.zip"'
    )
    return resp


@bp.route("/profile/password", methods=["POST"])
@patient_required
@limiter.limit("5/hour", methods=["POST"])
def password():
    """Change the password through an emailed link (proves the address, as a reset does)."""
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("portal/link_invalid.html", what="request"), 400
    patient = current_patient()
    email = record_queries.demographics(db.session, patient)["email"]
    register_patient(db.session, g.tenant, full_name=patient.full_name, email=email)
    flash(_("We have emailed you a link to choose a new password."), "success")
    return redirect(url_for("portal.profile"))
