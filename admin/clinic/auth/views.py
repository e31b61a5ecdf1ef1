"""Staff sign-in pages on the clinic's host: password, TOTP, enrolment, reset, invitations.

A half-signed-in user (password checked, MFA pending) is kept in the session as
``pending = {uid, tid, stage, exp}`` and only becomes logged in (flask-login) after the
second factor; the session id is rotated at that moment.
"""

from __future__ import annotations

import time
import uuid

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user

from admin.clinic import TEMPLATES
from admin.clinic.forms import CodeForm, ForgotForm, LoginForm, NewPasswordForm
from admin.clinic.staff.services import accept_invitation, get_invitation_by_token_in_tenant
from saas import audit, db, outbox
from saas.exceptions import Invalid
from saas.extensions import limiter
from saas.models import User
from saas.security import auth
from saas.security.handoff import claim_handoff
from saas.security.passwords import password_problem
from saas.web import CLINIC, safe_next, serve_on

bp = Blueprint("auth", __name__, template_folder=TEMPLATES)
serve_on(bp, CLINIC)
PENDING_SECONDS = 600


def _set_pending(user: User, stage: str) -> None:
    session["pending"] = {
        "uid": str(user.id),
        "tid": str(user.tenant_id),
        "stage": stage,
        "exp": time.time() + PENDING_SECONDS,
    }


def _pending(stage: str) -> User | None:
    p = session.get("pending")
    if not p or p["stage"] != stage or p["exp"] < time.time() or p["tid"] != str(g.tenant.id):
        return None
    return db.session.get(User, (g.tenant.id, uuid.UUID(p["uid"])))


def _finish_sign_in(user: User) -> None:
    """Sign ``user`` in once the request's transaction has committed (never before)."""

    def sign_in():
        session.pop("pending", None)
        session.regenerate()
        login_user(user)
        session["tid"] = str(g.tenant.id)

    db.after_commit(db.session, "sign_in", sign_in)


def _safe_next(default: str) -> str:
    return safe_next(request.args.get("next"), default)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def login():
    """Email and password: the first factor."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = auth.authenticate_password(
                db.session, g.tenant, form.email.data, form.password.data, request.remote_addr
            )
        except auth.AuthError as exc:
            db.keep_on_error()  # keep the audit entry of the failure
            flash(str(exc), "error")
            return render_template("admin/login.html", form=form), 401
        stage = "mfa" if user.mfa_enrolled_at else "enrol"
        _set_pending(user, stage)
        session.regenerate()
        return redirect(
            url_for(
                "auth.mfa" if stage == "mfa" else "auth.enrol",
                next=safe_next(request.args.get("next"), None),
            )
        )
    return render_template("admin/login.html", form=form), 422 if form.errors else 200


@bp.route("/login/mfa", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def mfa():
    """The second factor: a TOTP code or a recovery code."""
    user = _pending("mfa")
    if user is None:
        flash("Your sign-in expired. Please start again.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        if auth.second_factor(db.session, g.tenant, user, form.code.data, request.remote_addr):
            _finish_sign_in(user)
            flash(f"Welcome back, {user.name}.", "success")
            return redirect(_safe_next(url_for("console.dashboard")))
        db.keep_on_error()  # the failed attempt counts
        form.code.data = ""
        form.code.errors.append(
            "That code did not work. Codes change every 30 seconds; try the current one."
        )
        return render_template("admin/mfa.html", form=form), 401
    return render_template("admin/mfa.html", form=form)


@bp.route("/mfa/enrol", methods=["GET", "POST"])
def enrol():
    """Enrol an authenticator app (QR code and copyable secret) before the console opens."""
    user = _pending("enrol")
    if user is None:
        flash("Please sign in to set up two-step verification.", "info")
        return redirect(url_for("auth.login"))
    secret = auth.totp_secret(db.session, user)
    uri = auth.provisioning_uri(secret, user, g.tenant)
    form = CodeForm()
    if form.validate_on_submit():
        codes = auth.complete_enrolment(db.session, g.tenant, user, form.code.data)
        if codes is not None:
            user.last_login_at = auth.utcnow()
            audit.record(
                db.session, g.tenant.id, "auth.sign_in", actor=user, data={"via": "enrolment"}
            )
            _finish_sign_in(user)
            return render_template("admin/recovery_codes.html", codes=codes)
        form.code.data = ""
        form.code.errors.append(
            "That code did not match. Check your device's clock and try the current code."
        )
    qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#1b1b1b", light="#ffffff")
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/enrol.html", form=form, secret=secret, uri=uri, qr_svg=qr_svg
    ), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out (POST with CSRF token) and drop the server-side session."""
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5/minute", methods=["POST"])
def forgot():
    """Email a single-use reset link; the answer is the same whether the email exists or not."""
    form = ForgotForm()
    if form.validate_on_submit():
        token = auth.start_password_reset(db.session, g.tenant, form.email.data)
        if token:
            link = current_app.config["SIMILIA"].public_url(
                g.tenant.slug, f"/password/reset/{token}"
            )
            outbox.emit(
                db.session,
                g.tenant.id,
                "email.password_reset",
                {
                    "to": form.email.data.strip().lower(),
                    "subject": f"Reset your {g.tenant.name} password",
                    "body": f"Use this link within one hour to choose a new password:\n{link}\n"
                    "If you did not ask for this, ignore this email.",
                },
            )
        flash("If an account exists for that email, a reset link is on its way.", "success")
        return redirect(url_for("auth.login"))
    return render_template("admin/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Choose a new password from an emailed link (single use, expires in an hour)."""
    if not auth.reset_is_valid(db.session, g.tenant, token):
        return render_template("admin/link_invalid.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        if problem := password_problem(form.password.data):
            form.password.errors.append(problem)
        else:
            user = auth.finish_password_reset(db.session, g.tenant, token, form.password.data)
            if user is None:
                return render_template("admin/link_invalid.html"), 404
            flash("Your password is changed. Sign in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("admin/reset.html", form=form), 422 if form.errors else 200


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """Accept an invitation: choose a password, then enrol MFA."""
    inv = get_invitation_by_token_in_tenant(db.session, g.tenant, token)
    if inv is None:
        return render_template("admin/link_invalid.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user, _ = accept_invitation(db.session, g.tenant, token, form.password.data)
        except Invalid as exc:
            form.password.errors.extend(exc.errors.values())
        else:
            _set_pending(user, "enrol")
            session.regenerate()
            return redirect(url_for("auth.enrol"))
    return render_template("admin/invitation.html", form=form, inv=inv), 422 if form.errors else 200


@bp.route("/auth/handoff")
def handoff():
    """Continue from platform signup on the clinic's own host (single use, 2 minutes)."""
    user_id = claim_handoff(request.args.get("t", ""), g.tenant.id)
    user = db.session.get(User, (g.tenant.id, uuid.UUID(user_id))) if user_id else None
    if user is None:
        return render_template("admin/link_invalid.html"), 404
    stage = "enrol" if user.mfa_enrolled_at is None else "mfa"
    _set_pending(user, stage)
    session.regenerate()
    return redirect(url_for("auth.enrol" if stage == "enrol" else "auth.mfa"))
