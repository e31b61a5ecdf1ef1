"""Portal accounts: register, confirm the email and choose a password, sign in and out.

Registration is email first (:func:`saas.patients.register_patient`): the password is
chosen through the emailed ``/verify-email`` link, so the email is verified before the
first booking can be confirmed. Every answer is the same whether or not an email has an
account (no enumeration): registration and "forgot password" always say "check your email".
A page the patient wanted before signing in (``next``) is kept in the session across the
email round trip.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from saas import db, errors
from saas.exceptions import Forbidden, Invalid, NotFound, Unauthenticated
from saas.extensions import limiter
from saas.patients import (
    check_patient_password,
    get_patient_by_email_in_tenant,
    get_patient_in_tenant,
    normalise_email,
    open_patient_session,
    register_patient,
    sign_out_patient,
    verify_email,
)
from saas.security import patient_totp
from saas.web import safe_next

from . import fmt
from .blueprint import bp
from .forms import (
    ActionForm,
    ChoosePasswordForm,
    CodeForm,
    EmailOnlyForm,
    RegisterForm,
    SignInForm,
)
from .session import current_patient, forget, remember
from .signin_links import send_sign_in_link, use_sign_in_link

NEXT_KEY = "portal_next"
#: A sign-in waiting for its two-step code: ``{pid, tid, method, exp}`` in the session.
PENDING_KEY = "portal_two_step"
PENDING_SECONDS = 600


def _next(default: str = "/appointments") -> str:
    return safe_next(request.args.get("next") or session.get(NEXT_KEY), default)


def _keep_next() -> None:
    target = safe_next(request.args.get("next"), "")
    if target:
        session[NEXT_KEY] = target


def _email_asked() -> str:
    """The (lower-cased) email address a form or JSON body asks us to write to, or ''."""
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get("email") if isinstance(body, dict) else None
    else:
        value = request.form.get("email")
    return value.strip().lower() if isinstance(value, str) else ""


def _email_key() -> str:
    """Rate-limit key of the address written to (per account, on top of per client address).

    Hashed with the clinic's id, so no address is kept in Redis in clear and one clinic's
    counts never touch another's. The same limit holds for every address, known or not, so
    a 429 says nothing about who has an account.
    """
    raw = f"{g.tenant.id}:{_email_asked()}".encode()
    return "portal-email:" + hashlib.sha256(raw).hexdigest()


#: Emails with a link, per recipient address, across registration, password and sign-in
#: links (page and API): nobody can flood someone's inbox from many client addresses.
EMAILS_PER_ADDRESS = limiter.shared_limit(
    "5/hour",
    scope="portal-emails-per-address",
    key_func=_email_key,
    methods=["POST"],
    exempt_when=lambda: not _email_asked(),
)


def _signed_in(patient, *, method: str, welcome: str | None = None):
    """The first factor passed: open the session, or ask for the two-step code first."""
    if patient_totp.is_on(patient):
        session[PENDING_KEY] = {
            "pid": str(patient.id),
            "tid": str(g.tenant.id),
            "method": method,
            "exp": time.time() + PENDING_SECONDS,
        }
        session.regenerate()
        return redirect(url_for("portal.sign_in_code"))
    remember(open_patient_session(db.session, g.tenant, patient, data={"method": method}))
    if welcome:
        flash(welcome, "success")
    target = _next()
    session.pop(NEXT_KEY, None)
    return redirect(target)


def _pending_patient():
    """The patient whose sign-in waits for a code on this clinic, or None (expired, other)."""
    pending = session.get(PENDING_KEY)
    if not pending or pending.get("tid") != str(g.tenant.id) or pending["exp"] < time.time():
        return None
    patient = get_patient_in_tenant(db.session, g.tenant, uuid.UUID(pending["pid"]))
    if patient is None or patient.status != "active" or not patient_totp.is_on(patient):
        return None
    return patient


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
@EMAILS_PER_ADDRESS
def register():
    """Name and email; the link to choose a password is emailed."""
    form = RegisterForm()
    _keep_next()
    if form.validate_on_submit():
        try:
            register_patient(
                db.session,
                g.tenant,
                full_name=form.full_name.data,
                email=form.email.data,
                language=fmt._lang(),
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
        return _signed_in(
            patient,
            method="password_link",
            welcome=_("Your email is confirmed and you are signed in."),
        )
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
            patient = check_patient_password(
                db.session, g.tenant, form.email.data, form.password.data, request.remote_addr
            )
        except Unauthenticated as exc:
            db.keep_on_error()  # the refused attempt stays in the audit log
            message = " ".join(exc.errors.values()) or exc.message
            return render_template("portal/sign_in.html", form=form, message=message), 401
        except Forbidden as exc:
            message = errors.refused(exc)
            return render_template("portal/sign_in.html", form=form, message=message), 403
        return _signed_in(patient, method="password")
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
@EMAILS_PER_ADDRESS
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
            register_patient(
                db.session,
                g.tenant,
                full_name=patient.full_name,
                email=email,
                language=fmt._lang(),
            )
        return redirect(url_for("portal.check_email"))
    status = 422 if form.errors else 200
    return render_template("portal/forgot.html", form=form), status


@bp.route("/sign-in/email", methods=["GET", "POST"])
@limiter.limit("5/hour", methods=["POST"])
@EMAILS_PER_ADDRESS
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
            patient = use_sign_in_link(db.session, g.tenant, token)
        except NotFound as exc:
            errors.refused(exc)
            return render_template("portal/link_invalid.html"), 404
        return _signed_in(patient, method="link", welcome=_("You are signed in."))
    form.token.data = token
    return render_template("portal/sign_in_link.html", form=form)


def code_refusal(exc: Unauthenticated) -> str:
    """The page's wording for a refused two-step code (locked, or wrong)."""
    if exc.reason == "locked":
        return _("Too many wrong codes. Wait 15 minutes and try again.")
    return _("That code did not work. Codes change every 30 seconds; use the current one.")


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
def sign_in_code():
    """Two-step sign-in: the code from the patient's authenticator app (or a recovery code).

    Reached only after a password, a sign-in link or a password link was accepted for a
    patient who turned two-step sign-in on; the session opens only with a right code.
    """
    patient = _pending_patient()
    if patient is None:
        session.pop(PENDING_KEY, None)
        flash(_("Your sign-in expired. Please start again."), "info")
        return redirect(url_for("portal.sign_in"))
    form = CodeForm()
    message = None
    if form.validate_on_submit():
        try:
            via = patient_totp.check_code(
                db.session, g.tenant, patient, form.code.data, request.remote_addr
            )
        except Unauthenticated as exc:
            db.keep_on_error()  # the failed code stays in the audit log and counts
            form.code.data = ""
            form.code.errors.append(code_refusal(exc))
            return render_template("portal/sign_in_code.html", form=form, message=message), 401
        method = session.pop(PENDING_KEY)["method"]
        remember(
            open_patient_session(
                db.session, g.tenant, patient, data={"method": method, "second_factor": via}
            )
        )
        if via == "recovery_code":
            flash(
                _(
                    "You used a recovery code; it no longer works. If you lost your phone, "
                    "turn two-step sign-in off and on again in your profile."
                ),
                "info",
            )
        else:
            flash(_("You are signed in."), "success")
        target = _next()
        session.pop(NEXT_KEY, None)
        return redirect(target)
    status = 422 if form.errors else 200
    return render_template("portal/sign_in_code.html", form=form, message=message), status
