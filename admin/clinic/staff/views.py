"""The staff console (clinic side): dashboard, staff and invitations, audit log."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from admin.clinic import TEMPLATES
from admin.clinic.appointments.views import appointments_on_day_in_tenant, clinic_today
from admin.clinic.forms import InviteForm, RoleForm
from saas import db
from saas.errors import form_errors, refused, status_of
from saas.exceptions import DomainError
from saas.inputs import seq_param
from saas.models import AuditEntry, User
from saas.security.rbac import can, requires
from saas.web import CLINIC, serve_on
from tenants.onboarding import practice_readiness

from .services import (
    change_role,
    invite_staff,
    list_open_invitations_in_tenant,
    list_staff_in_tenant,
)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder=TEMPLATES)
serve_on(bp, CLINIC)
AUDIT_PAGE = 50


@bp.app_context_processor
def _permissions():
    return {"can": lambda perm: current_user.is_authenticated and can(current_user.role, perm)}


@bp.route("/")
@requires("console.view")
def dashboard():
    """The day at a glance."""
    staff = list_staff_in_tenant(db.session, g.tenant)
    today = appointments_on_day_in_tenant(db.session, g.tenant, clinic_today(g.tenant))
    active = [r for r in today if r["appt"].status not in ("cancelled",)]
    readiness = practice_readiness(db.session, g.tenant)
    return render_template(
        "admin/dashboard.html",
        staff_count=len(staff),
        today_count=len(active),
        readiness=readiness,
    )


@bp.route("/staff", methods=["GET", "POST"])
@requires("staff.view")
def staff():
    """Staff list; owners and admins invite from here."""
    form = InviteForm()
    status = 200
    if request.method == "POST":
        if not can(current_user.role, "staff.invite"):
            abort(403)
        if form.validate_on_submit():
            try:
                invite_staff(
                    db.session,
                    g.tenant,
                    current_user,
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                )
            except DomainError as exc:
                form_errors(form, exc)
                status = status_of(exc)
            else:
                flash(f"Invitation sent to {form.email.data}.", "success")
                return redirect(url_for("console.staff"))
        else:
            status = 422
    return render_template(
        "admin/staff.html",
        form=form,
        staff=list_staff_in_tenant(db.session, g.tenant),
        invitations=list_open_invitations_in_tenant(db.session, g.tenant),
        role_form=RoleForm(),
    ), status


@bp.route("/staff/<uuid:user_id>/role", methods=["POST"])
@requires("staff.manage")
def set_role(user_id: uuid.UUID):
    """Change a staff member's role."""
    user = db.session.scalar(select(User).where(User.tenant_id == g.tenant.id, User.id == user_id))
    if user is None:
        abort(404)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            change_role(db.session, g.tenant, current_user, user, form.role.data)
        except DomainError as exc:
            flash(refused(exc), "error")
        else:
            flash(f"{user.name} is now {user.role}.", "success")
    else:
        flash("Choose a valid role.", "error")
    return redirect(url_for("console.staff"))


@bp.route("/audit")
@requires("audit.view")
def audit_log():
    """The clinic's audit log, newest first."""
    before = seq_param("before")
    q = select(AuditEntry).where(AuditEntry.tenant_id == g.tenant.id)
    if before:
        q = q.where(AuditEntry.seq < before)
    entries = list(db.session.scalars(q.order_by(AuditEntry.seq.desc()).limit(AUDIT_PAGE)))
    return render_template("admin/audit.html", entries=entries, page=AUDIT_PAGE)
