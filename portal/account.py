"""Portal accounts: register, confirm the email and choose a password, sign in and out.

Registration is email first (:func:`saas.patients.register_patient`): the password is
chosen through the emailed ``/verify-email`` link, so the email is verified before the
first booking can be confirmed. Every answer is the same whether or not an email has an
account (no enumeration): registration and "forgot password" always say "check your email".
A page the patient wanted before signing in (``next``) is kept in the session across the
email round trip.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from saas import db, errors
from saas.exceptions import Forbidden, Invalid, NotFound, Unauthenticated
from saas.extensions import limiter
from saas.patients import (
    get_patient_by_email_in_tenant,
    normalise_email,
    register_patient,
    sign_in_patient,
    sign_out_patient,
    verify_email,
)
from saas.web import safe_next

from .blueprint import bp
from .forms import ActionForm, ChoosePasswordForm, EmailOnlyForm, RegisterForm, SignInForm
from .session import current_patient, forget, remember
from .signin_links import send_sign_in_link, use_sign_in_link

NEXT_KEY = "portal_next"


def _next(default: str = "/appointments") -> str:
    return safe_next(request.args.get("next") or session.get(NEXT_KEY), default)


def _keep_next() -> None:
    target = safe_next(request.args.get("next"), "")
    if target:
        session[NEXT_KEY] = target


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
def register():
    """Name and email; the link to choose a password is emailed."""
    form = RegisterForm()
    _keep_next()
    if form.validate_on_submit():
        try:
            register_patient(
                db.session, g.tenant, full_name=form.full_name.data, email=form.email.data
            )
        except Invalid as exc:
            message = errors.form_errors(form, exc)
            return render_template("portal/register.html", form=form, message=message), 422
        return redirect(url_for("portal.check_email"))
    status = 422 if form.errors else 200
    return render_template("portal/register.html", form=form, message=None), status


@bp.route("/check-email")
def check_email():
    """What happens next after registering or asking for a link."""
    return render_template("portal/check_email.html")


@bp.route("/verify-email", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def verify():
    """The emailed link: confirm the email, choose a password, and be signed in."""
    form = ChoosePasswordForm()
    if request.method == "GET":
        form.token.data = request.args.get("token", "")
    if not form.token.data:
        return render_template("portal/link_invalid.html"), 404
    if form.validate_on_submit():
        try:
            patient = verify_email(db.session, g.tenant, form.token.data, form.password.data)
        except NotFound:
            errors.refused(NotFound("invalid link"))
            return render_template("portal/link_invalid.html"), 404
        except Invalid as exc:
            message = errors.form_errors(form, exc)
            return render_template("portal/verify.html", form=form, message=message), 422
        from saas.patients import read_sealed

        email = read_sealed(db.session, patient, "email")
        _patient, token = sign_in_patient(
            db.session, g.tenant, email, form.password.data, request.remote_addr
        )
        remember(token)
        flash(_("Your email is confirmed and you are signed in."), "success")
        return redirect(safe_next(session.pop(NEXT_KEY, None), "/appointments"))
    status = 422 if form.errors else 200
    return render_template("portal/verify.html", form=form, message=None), status


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("20/minute;100/hour", methods=["POST"])
def sign_in():
    """Email and password."""
    if current_patient() is not None and request.method == "GET":
        return redirect(_next())
    form = SignInForm()
    _keep_next()
    message = None
    if form.validate_on_submit():
        try:
            _patient, token = sign_in_patient(
                db.session, g.tenant, form.email.data, form.password.data, request.remote_addr
            )
        except Unauthenticated as exc:
            db.keep_on_error()  # the refused attempt stays in the audit log
            message = " ".join(exc.errors.values()) or exc.message
            return render_template("portal/sign_in.html", form=form, message=message), 401
        except Forbidden as exc:
            message = errors.refused(exc)
            return render_template("portal/sign_in.html", form=form, message=message), 403
        remember(token)
        target = _next()
        session.pop(NEXT_KEY, None)
        return redirect(target)
    status = 422 if form.errors else 200
    return render_template("portal/sign_in.html", form=form, message=message), status


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    """End the portal session (the token is revoked, not just forgotten)."""
    form = ActionForm()
    patient = current_patient()
    if form.validate_on_submit() and patient is not None:
        sign_out_patient(db.session, g.tenant, patient, g.portal_token)
    forget()
    flash(_("You are signed out."), "success")
    return redirect("/")


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("5/hour", methods=["POST"])
def forgot():
    """Email a link to choose a new password (the same answer for unknown emails)."""
    form = EmailOnlyForm()
    if form.validate_on_submit():
        try:
            email = normalise_email(form.email.data)
        except Invalid:
            email = None  # nobody has this address: the same answer as for a stranger
        patient = get_patient_by_email_in_tenant(db.session, g.tenant, email) if email else None
        if patient is not None and patient.status == "active":
            register_patient(db.session, g.tenant, full_name=patient.full_name, email=email)
        return redirect(url_for("portal.check_email"))
    status = 422 if form.errors else 200
    return render_template("portal/forgot.html", form=form), status


@bp.route("/sign-in/email", methods=["GET", "POST"])
@limiter.limit("5/hour", methods=["POST"])
def sign_in_link_request():
    """Ask for a one-time sign-in link (the same answer for every address)."""
    form = EmailOnlyForm()
    _keep_next()
    if form.validate_on_submit():
        send_sign_in_link(db.session, g.tenant, form.email.data)
        return redirect(url_for("portal.check_email"))
    status = 422 if form.errors else 200
    return render_template("portal/sign_in_email.html", form=form), status


@bp.route("/sign-in/link", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def sign_in_link():
    """The emailed link: one button signs in (a GET alone never uses the link up)."""
    form = ChoosePasswordForm()  # only its hidden token field is used
    token = request.form.get("token") if request.method == "POST" else request.args.get("token")
    if not token:
        return render_template("portal/link_invalid.html"), 404
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            return render_template("portal/link_invalid.html"), 400
        try:
            _patient, session_token = use_sign_in_link(db.session, g.tenant, token)
        except NotFound as exc:
            errors.refused(exc)
            return render_template("portal/link_invalid.html"), 404
        remember(session_token)
        flash(_("You are signed in."), "success")
        return redirect(safe_next(session.pop(NEXT_KEY, None), "/appointments"))
    form.token.data = token
    return render_template("portal/sign_in_link.html", form=form)
