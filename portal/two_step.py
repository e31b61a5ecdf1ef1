"""Profile: the patient turns two-step sign-in (an authenticator app's code) on and off.

The rules are :mod:`saas.security.patient_totp`'s; these pages only ask and show. Setting
up: a button on the profile makes a new secret (POST), this page shows it as an inline SVG
QR code and as text, and a first code from the app turns it on; the recovery codes are
shown once, on the answer to that POST (pages are never cached). Turning it off asks for a
current code or a recovery code.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from saas import db
from saas.exceptions import Invalid, Unauthenticated
from saas.extensions import limiter
from saas.patients import read_sealed
from saas.security import patient_totp, totp

from .account import code_refusal
from .blueprint import bp
from .forms import ActionForm, CodeForm
from .session import current_patient, patient_required


@bp.route("/profile/two-step/start", methods=["POST"])
@patient_required
@limiter.limit("10/hour", methods=["POST"])
def two_step_start():
    """Make a new secret to scan (two-step sign-in stays off until a code confirms it)."""
    if not ActionForm().validate_on_submit():
        return render_template("portal/link_invalid.html", what="request"), 400
    patient = current_patient()
    if patient_totp.is_on(patient):
        flash(_("Two-step sign-in is already on."), "info")
        return redirect(url_for("portal.profile", _anchor="two-step"))
    patient_totp.start_setup(db.session, g.tenant, patient)
    return redirect(url_for("portal.two_step_setup"))


@bp.route("/profile/two-step", methods=["GET", "POST"])
@patient_required
@limiter.limit("10/minute;30/hour", methods=["POST"])
def two_step_setup():
    """Scan the QR code (or type the key), then confirm with the app's first code."""
    patient = current_patient()
    secret = patient_totp.pending_secret(db.session, patient)
    if secret is None:
        return redirect(url_for("portal.profile", _anchor="two-step"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = patient_totp.confirm_setup(db.session, g.tenant, patient, form.code.data)
        except Invalid:
            form.code.data = ""
            form.code.errors.append(
                _("That code did not match. Check your phone's clock and enter the current code.")
            )
        else:
            return render_template("portal/two_step_codes.html", codes=codes)
    uri = patient_totp.setup_uri(secret, g.tenant, read_sealed(db.session, patient, "email") or "")
    status = 422 if form.errors else 200
    return (
        render_template(
            "portal/two_step_setup.html",
            form=form,
            qr_svg=totp.qr_svg(uri),
            secret=totp.grouped(secret),
        ),
        status,
    )


@bp.route("/profile/two-step/off", methods=["GET", "POST"])
@patient_required
@limiter.limit("10/minute;30/hour", methods=["POST"])
def two_step_off():
    """Turn two-step sign-in off: a current code (or a recovery code) proves it is you."""
    patient = current_patient()
    if not patient_totp.is_on(patient):
        return redirect(url_for("portal.profile", _anchor="two-step"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            patient_totp.disable(
                db.session, g.tenant, patient, form.code.data, request.remote_addr
            )
        except Unauthenticated as exc:
            db.keep_on_error()  # the failed code is audited and counts toward the lockout
            form.code.data = ""
            form.code.errors.append(code_refusal(exc))
            return render_template("portal/two_step_off.html", form=form), 401
        flash(_("Two-step sign-in is off. You sign in with your password or a link."), "success")
        return redirect(url_for("portal.profile", _anchor="two-step"))
    return render_template("portal/two_step_off.html", form=form), 422 if form.errors else 200
