"""Operator console pages on the platform host: sign-in, clinics, a clinic, the audit log.

A half-signed-in operator (password checked, code pending) is kept in the session as
``op_pending = {id, exp}``; only the right TOTP code makes ``op = {id, epoch}``, and the
session id is rotated at both steps. Views parse, call a service, redirect with a message.
"""

from __future__ import annotations

import time
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from saas import db
from saas.errors import form_errors
from saas.exceptions import DomainError, Forbidden
from saas.extensions import limiter
from saas.models import Operator
from saas.web import PLATFORM, serve_on
from tenants import closing
from tenants.status import STATUSES

from . import TEMPLATES, audit, health, queries, services, support
from .auth import OperatorAuthError, authenticate, second_factor
from .forms import CloseForm, CodeForm, LimitsForm, ReasonForm, SignInForm, TrialForm

bp = Blueprint("operator", __name__, url_prefix="/ops", template_folder=TEMPLATES)
serve_on(bp, PLATFORM)
PENDING_SECONDS = 300
PUBLIC = {"operator.sign_in", "operator.code"}


def _current_operator() -> Operator | None:
    state = session.get("op")
    if not isinstance(state, dict):
        return None
    try:
        op = db.session.get(Operator, uuid.UUID(state.get("id", "")))
    except ValueError:
        return None
    if op is None or not op.is_active or op.session_epoch != state.get("epoch"):
        return None
    return op


@bp.before_request
def _blind_and_signed_in():
    """Run on the operator role and the operator's Vault token; require a signed-in operator."""
    sess = db.session()
    if sess.in_transaction():  # nothing of this request may run on the runtime role
        sess.close()
    sess.bind = current_app.extensions["similia.ops_engine"]
    g.similia_keys = current_app.extensions["similia.ops_keys"]
    g.operator = _current_operator()
    if g.operator is None and request.endpoint not in PUBLIC:
        return redirect(url_for("operator.sign_in"))
    return None


@bp.app_template_global("op_can")
def op_can(permission: str) -> bool:
    """Template helper: whether the signed-in operator may do this."""
    return services.can(g.get("operator"), permission)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def sign_in():
    """Email and password: the first factor."""
    if g.operator is not None:
        return redirect(url_for("operator.tenants"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            op = authenticate(db.session, form.email.data, form.password.data, request.remote_addr)
        except OperatorAuthError as exc:
            db.keep_on_error()  # keep the audit entry of the failure
            return render_template("platform/sign_in.html", form=form, message=str(exc)), 401
        session.clear()
        session["op_pending"] = {"id": str(op.id), "exp": time.time() + PENDING_SECONDS}
        session.regenerate()
        return redirect(url_for("operator.code"))
    return render_template("platform/sign_in.html", form=form), 422 if form.errors else 200


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def code():
    """The TOTP code: the second factor, always required."""
    pending = session.get("op_pending")
    op = None
    if isinstance(pending, dict) and pending.get("exp", 0) > time.time():
        op = db.session.get(Operator, uuid.UUID(pending["id"]))
    if op is None or not op.is_active:
        flash("Your sign-in expired. Please start again.", "info")
        return redirect(url_for("operator.sign_in"))
    form = CodeForm()
    if form.validate_on_submit():
        if second_factor(db.session, op, form.code.data, request.remote_addr):
            epoch = op.session_epoch

            def signed_in():
                session.pop("op_pending", None)
                session.regenerate()
                session["op"] = {"id": str(op.id), "epoch": epoch}

            db.after_commit(db.session, "operator_sign_in", signed_in)
            flash(f"Signed in as {op.email}.", "success")
            return redirect(url_for("operator.tenants"))
        db.keep_on_error()  # the failed attempt counts and is audited
        form.code.data = ""
        form.code.errors.append("That code did not work. Use the current code of your app.")
        return render_template("platform/code.html", form=form), 401
    return render_template("platform/code.html", form=form), 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def sign_out():
    """End the operator's session."""
    audit.record(db.session, "operator.signed_out", actor=services.actor_of(g.operator))
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("operator.sign_in"))


@bp.route("/")
def index():
    """The console starts at the clinic list."""
    return redirect(url_for("operator.tenants"))


@bp.route("/tenants")
def tenants():
    """Clinics: search, filters, paging, usage."""
    services.require(g.operator, "tenants.view")
    args = request.args
    status = args.get("status", "")
    status = status if status in STATUSES else ""
    country = args.get("country", "").strip().upper()[:2]
    page = args.get("page", "1")
    result = queries.search_tenants(
        db.session,
        q=args.get("q", "")[:100],
        status=status,
        country=country if country.isalpha() else "",
        page=int(page) if page.isdigit() and len(page) < 6 else 1,
    )
    return render_template(
        "platform/tenants.html",
        result=result,
        statuses=STATUSES,
        countries=queries.countries(db.session),
        q=args.get("q", "")[:100],
        status=status,
        country=country,
    )


def _tenant_or_404(tenant_id: uuid.UUID):
    tenant = queries.get_tenant(db.session, tenant_id)
    if tenant is None:
        abort(404)
    return tenant


def _tenant_page(
    tenant,
    *,
    reason_form=None,
    trial_form=None,
    close_form=None,
    limits_form=None,
    message=None,
    status=200,
):
    usage = queries.usage_of(db.session, [tenant.id]).get(tenant.id, queries.Usage())
    return (
        render_template(
            "platform/tenant.html",
            tenant=tenant,
            usage=usage,
            owners=services.owner_contacts(db.session, tenant),
            history=audit.entries_for_tenant(db.session, tenant.id),
            reason_form=reason_form or ReasonForm(),
            close_form=close_form or CloseForm(prefix="close"),
            trial_form=trial_form or TrialForm(prefix="trial"),
            limits_form=limits_form
            or LimitsForm(prefix="limits", data=dict(tenant.limit_overrides or {})),
            message=message,
            support_until=support.support_until(db.session, tenant),
            owner_accounts=support.owner_accounts(db.session, tenant),
            owner_invitations=support.open_owner_invitations(db.session, tenant),
        ),
        status,
    )


@bp.route("/tenants/<uuid:tenant_id>")
def tenant(tenant_id: uuid.UUID):
    """One clinic: status, usage, owner, history, actions."""
    services.require(g.operator, "tenants.view")
    return _tenant_page(_tenant_or_404(tenant_id))


@bp.route("/tenants/<uuid:tenant_id>/suspend", methods=["POST"], defaults={"action": "suspend"})
@bp.route(
    "/tenants/<uuid:tenant_id>/reactivate", methods=["POST"], defaults={"action": "reactivate"}
)
def change_status(tenant_id: uuid.UUID, action: str):
    """Suspend or reactivate a clinic, with a reason."""
    services.require(g.operator, "tenants.status")
    tenant = _tenant_or_404(tenant_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _tenant_page(tenant, reason_form=form, status=422)
    verb = services.suspend_clinic if action == "suspend" else services.reactivate_clinic
    try:
        verb(db.session, g.operator, tenant, form.reason.data)
    except DomainError as exc:
        return _tenant_page(tenant, reason_form=form, message=form_errors(form, exc), status=409)
    flash(
        f"{tenant.name} is suspended."
        if action == "suspend"
        else f"{tenant.name} is {tenant.status} again.",
        "success",
    )
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))


@bp.route("/tenants/<uuid:tenant_id>/trial", methods=["POST"])
def extend_trial(tenant_id: uuid.UUID):
    """Extend a clinic's free trial."""
    services.require(g.operator, "tenants.trial")
    tenant = _tenant_or_404(tenant_id)
    form = TrialForm(prefix="trial")
    if not form.validate_on_submit():
        return _tenant_page(tenant, trial_form=form, status=422)
    try:
        end = services.extend_trial(
            db.session, g.operator, tenant, form.days.data, form.reason.data
        )
    except DomainError as exc:
        return _tenant_page(tenant, trial_form=form, message=form_errors(form, exc), status=409)
    flash(f"The trial of {tenant.name} now ends on {end:%d %B %Y} (UTC).", "success")
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))


@bp.route("/tenants/<uuid:tenant_id>/limits", methods=["POST"])
def set_limits(tenant_id: uuid.UUID):
    """Adjust a clinic's plan limits (empty fields: the plan's)."""
    services.require(g.operator, "tenants.limits")
    tenant = _tenant_or_404(tenant_id)
    form = LimitsForm(prefix="limits")
    if not form.validate_on_submit():
        return _tenant_page(tenant, limits_form=form, status=422)
    values = {name: getattr(form, name).data for name in services.LIMIT_NAMES}
    try:
        services.set_limit_overrides(db.session, g.operator, tenant, values, form.reason.data)
    except DomainError as exc:
        return _tenant_page(tenant, limits_form=form, message=form_errors(form, exc), status=422)
    flash(f"The plan limits of {tenant.name} are updated.", "success")
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))


@bp.route("/audit")
def audit_log():
    """The platform audit log, newest first, with the chain's integrity."""
    services.require(g.operator, "tenants.view")
    from sqlalchemy import select

    from saas.models import PlatformAuditEntry

    entries = db.session.scalars(
        select(PlatformAuditEntry).order_by(PlatformAuditEntry.seq.desc()).limit(200)
    ).all()
    return render_template(
        "platform/audit.html", entries=entries, broken=audit.verify_chain(db.session)
    )


@bp.route("/health")
def platform_health():
    """Dependencies, queues, outbox lag and failures, webhook backlog, clinics in trouble."""
    services.require(g.operator, "tenants.view")
    return render_template(
        "platform/health.html",
        checks=health.dependencies(db.session),
        queues=health.queue_depths(),
        outbox=health.outbox_health(db.session),
        webhooks=health.webhook_health(db.session),
        trouble=health.clinics_with_errors(db.session),
        figures=health.request_figures(db.session),
    )


@bp.route("/tenants/<uuid:tenant_id>/support")
def support_page(tenant_id: uuid.UUID):
    """The clinic's console information, while its owner allows support access."""
    tenant = _tenant_or_404(tenant_id)
    try:
        view = support.support_view(db.session, g.operator, tenant)
    except Forbidden as exc:
        return render_template(
            "platform/support_refused.html", tenant=tenant, message=str(exc)
        ), 403
    usage = queries.usage_of(db.session, [tenant.id]).get(tenant.id, queries.Usage())
    return render_template("platform/support.html", tenant=tenant, view=view, usage=usage)


@bp.route("/tenants/<uuid:tenant_id>/owner-help/reset/<uuid:user_id>", methods=["POST"])
def owner_reset(tenant_id: uuid.UUID, user_id: uuid.UUID):
    """Email an owner a password reset link."""
    services.require(g.operator, "tenants.owner_help")
    tenant = _tenant_or_404(tenant_id)
    email = support.start_owner_reset(db.session, g.operator, tenant, user_id)
    flash(f"A password reset link was emailed to {email}.", "success")
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))


@bp.route("/tenants/<uuid:tenant_id>/owner-help/invitation/<uuid:invitation_id>", methods=["POST"])
def owner_invitation(tenant_id: uuid.UUID, invitation_id: uuid.UUID):
    """Email an invited owner a fresh invitation link."""
    services.require(g.operator, "tenants.owner_help")
    tenant = _tenant_or_404(tenant_id)
    email = support.resend_owner_invitation(db.session, g.operator, tenant, invitation_id)
    flash(f"A new invitation link was emailed to {email}.", "success")
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))


@bp.route("/tenants/<uuid:tenant_id>/close", methods=["POST"])
def close_clinic(tenant_id: uuid.UUID):
    """Start a terminated clinic's grace period before deletion (operator admins)."""
    services.require(g.operator, "tenants.delete")
    tenant = _tenant_or_404(tenant_id)
    form = CloseForm(prefix="close")
    if not form.validate_on_submit():
        return _tenant_page(tenant, close_form=form, status=422)
    try:
        end = closing.request_deletion(
            db.session, tenant, services.actor_of(g.operator), form.reason.data
        )
    except DomainError as exc:
        return _tenant_page(tenant, close_form=form, message=form_errors(form, exc), status=409)
    flash(f"{tenant.name} is closing; it will be deleted on {end:%d %B %Y} (UTC).", "success")
    return redirect(url_for("operator.tenant", tenant_id=tenant.id))
