"""The staff console (clinic side): dashboard, staff and invitations, audit log.

Each member also has their own security page: password, recovery codes, sessions.
"""

from __future__ import annotations

import csv
import io
import uuid
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import current_user, login_user
from sqlalchemy import select

from admin.clinic import TEMPLATES
from admin.clinic.appointments.views import appointments_on_day_in_tenant, clinic_today
from admin.clinic.forms import (
    AuditFilterForm,
    ClinicExportForm,
    CloseClinicForm,
    InviteForm,
    PasswordChangeForm,
    PlainForm,
    ReauthForm,
    RoleForm,
    SupportAccessForm,
)
from admin.clinic.practice.forms import NotificationPrefsForm
from admin.clinic.reports import history
from saas import audit, db
from saas.actors import Actor
from saas.errors import form_errors, refused, status_of
from saas.exceptions import DomainError
from saas.extensions import limiter
from saas.inputs import seq_param
from saas.models import User
from saas.records import clinic_export
from saas.scheduling.models import Practitioner
from saas.scheduling.practice.practitioners import update_practitioner
from saas.security.rbac import can, requires
from saas.web import CLINIC, serve_on
from tenants import closing, support_access
from tenants.onboarding import practice_readiness

from . import sessions as own_sessions
from .services import (
    change_own_password,
    change_role,
    deactivate_staff,
    get_open_invitation_in_tenant,
    invite_staff,
    list_open_invitations_in_tenant,
    list_staff_in_tenant,
    reactivate_staff,
    regenerate_recovery_codes,
    resend_invitation,
    revoke_invitation,
)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder=TEMPLATES)
serve_on(bp, CLINIC)
AUDIT_PAGE = 50


@bp.before_request
def note_session():
    """Record this console session for the member's security page (see ``sessions``).

    Other console blueprints register it too (``bp.before_request(note_session)``).
    """
    if not g.get("tenant"):
        return
    if not current_user.is_authenticated or not hasattr(session, "sid"):
        return
    own_sessions.touch(
        current_app.extensions["similia.redis"],
        g.tenant.id,
        current_user.id,
        session.sid,
        ip=request.remote_addr,
        agent=request.headers.get("User-Agent", ""),
        ttl=current_app.session_interface.lifetime,
    )


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
                hint = ""
                if form.role.data == "practitioner":
                    hint = " They become bookable when they accept: then add their weekly hours."
                flash(f"Invitation sent to {form.email.data}.{hint}", "success")
                return redirect(url_for("console.staff"))
        else:
            status = 422
    bookable = {
        p.user_id: p
        for p in db.session.scalars(
            select(Practitioner).where(
                Practitioner.tenant_id == g.tenant.id, Practitioner.user_id.is_not(None)
            )
        )
    }
    return render_template(
        "admin/staff.html",
        form=form,
        staff=list_staff_in_tenant(db.session, g.tenant),
        invitations=list_open_invitations_in_tenant(db.session, g.tenant),
        role_form=RoleForm(),
        button=PlainForm(),
        bookable=bookable,
        zone=ZoneInfo(g.tenant.timezone),
    ), status


@bp.route("/staff/<uuid:user_id>/role", methods=["POST"])
@requires("staff.manage")
def set_role(user_id: uuid.UUID):
    """Change a staff member's role."""
    user = _member_or_404(user_id)
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


def _member_or_404(user_id: uuid.UUID) -> User:
    user = db.session.scalar(select(User).where(User.tenant_id == g.tenant.id, User.id == user_id))
    if user is None:
        abort(404)
    return user


@bp.route("/staff/<uuid:user_id>/<action>", methods=["POST"])
@requires("staff.manage")
def set_active(user_id: uuid.UUID, action: str):
    """Deactivate (sessions and API tokens end at once) or reactivate a staff member."""
    if action not in ("deactivate", "reactivate"):
        abort(404)
    user = _member_or_404(user_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    verb = deactivate_staff if action == "deactivate" else reactivate_staff
    try:
        verb(db.session, g.tenant, current_user, user)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        done = "deactivated: signed out everywhere" if action == "deactivate" else "reactivated"
        flash(f"{user.name} {done}.", "success")
    return redirect(url_for("console.staff"))


@bp.route("/staff/invitations/<uuid:invitation_id>/<action>", methods=["POST"])
@requires("staff.invite")
def invitation_action(invitation_id: uuid.UUID, action: str):
    """Send an open invitation again (a fresh link) or withdraw it."""
    if action not in ("resend", "revoke"):
        abort(404)
    inv = get_open_invitation_in_tenant(db.session, g.tenant, invitation_id)
    if inv is None:
        abort(404)
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        if action == "resend":
            resend_invitation(db.session, g.tenant, current_user, inv)
        else:
            revoke_invitation(db.session, g.tenant, current_user, inv)
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        done = "sent again with a new link" if action == "resend" else "withdrawn"
        flash(f"Invitation to {inv.email} {done}.", "success")
    return redirect(url_for("console.staff"))


# -- own security ---------------------------------------------------------------------------
def _own_practitioner() -> Practitioner | None:
    """The practitioner profile linked to the signed-in member, in this clinic (or None)."""
    return db.session.scalar(
        select(Practitioner).where(
            Practitioner.tenant_id == g.tenant.id, Practitioner.user_id == current_user.id
        )
    )


def _security_page(password_form=None, reauth_form=None, *, summary=None, status=200):
    redis = current_app.extensions["similia.redis"]
    own = _own_practitioner()
    return render_template(
        "admin/security.html",
        own_practitioner=own,
        prefs_form=NotificationPrefsForm(obj=own, prefix="nt") if own else None,
        password_form=password_form or PasswordChangeForm(prefix="pw"),
        reauth_form=reauth_form or ReauthForm(prefix="rc"),
        button=PlainForm(),
        summary=summary,
        sessions=own_sessions.list_sessions(
            redis, g.tenant.id, current_user.id, getattr(session, "sid", None)
        ),
        zone=ZoneInfo(g.tenant.timezone),
    ), status


@bp.route("/account/security")
@requires("console.view")
def security():
    """The signed-in member's own security: password, recovery codes, sessions."""
    return _security_page()


@bp.route("/account/notifications", methods=["POST"])
@requires("console.view")
def my_notifications():
    """Change one's own calendar alerts and daily agenda (a practitioner with an account).

    Decision: one's own emails are an account matter like one's password and sessions, not
    a practice setting, so the permission is ``console.view`` (every member) rather than
    ``practice.manage``; the scope is in the lookup (the profile linked to the signed-in
    member in this clinic: anyone else's is a 404) and only these two preferences are taken
    from the form, so a practitioner cannot change their public profile or archive it here.
    Saved by the verb the API's PATCH uses, which audits the change.
    """
    own = _own_practitioner()
    if own is None:
        abort(404)
    form = NotificationPrefsForm(prefix="nt")
    if not form.validate_on_submit():
        abort(400)
    update_practitioner(
        db.session,
        g.tenant,
        Actor.for_staff(current_user),
        own,
        {
            "alerts_enabled": bool(form.alerts_enabled.data),
            "daily_agenda": bool(form.daily_agenda.data),
        },
    )
    flash("Your notification emails are saved.", "success")
    return redirect(url_for("console.security") + "#notifications-title")


@bp.route("/account/password", methods=["POST"])
@limiter.limit("10/hour;5/minute")
@requires("console.view")
def change_password():
    """Change one's password; other sessions and API tokens end, this one stays signed in."""
    form = PasswordChangeForm(prefix="pw")
    if not form.validate_on_submit():
        return _security_page(password_form=form, status=422)
    user = current_user._get_current_object()
    try:
        change_own_password(
            db.session, g.tenant, user, form.current_password.data, form.new_password.data
        )
    except DomainError as exc:
        summary = form_errors(form, exc)
        return _security_page(password_form=form, summary=summary, status=status_of(exc))
    redis = current_app.extensions["similia.redis"]
    keep = getattr(session, "sid", None)

    def stay_signed_in():
        own_sessions.end_sessions(redis, g.tenant.id, user.id, keep_sid=keep)
        session.regenerate()
        login_user(user)  # the new session epoch
        session["tid"] = str(g.tenant.id)

    db.after_commit(db.session, "password_changed", stay_signed_in)
    flash("Password changed. You were signed out everywhere else.", "success")
    return redirect(url_for("console.security"))


@bp.route("/account/recovery-codes", methods=["POST"])
@limiter.limit("10/hour;5/minute")
@requires("console.view")
def new_recovery_codes():
    """New recovery codes, shown once (the old ones stop working)."""
    form = ReauthForm(prefix="rc")
    if not form.validate_on_submit():
        return _security_page(reauth_form=form, status=422)
    try:
        codes = regenerate_recovery_codes(
            db.session, g.tenant, current_user._get_current_object(), form.password.data
        )
    except DomainError as exc:
        summary = form_errors(form, exc)
        return _security_page(reauth_form=form, summary=summary, status=status_of(exc))
    return render_template("admin/security_codes.html", codes=codes)


@bp.route("/account/sessions/<handle>/end", methods=["POST"])
@requires("console.view")
def end_session(handle: str):
    """End one of one's sessions (``others`` ends every session but this one)."""
    if not PlainForm().validate_on_submit():
        abort(400)
    redis = current_app.extensions["similia.redis"]
    keep = getattr(session, "sid", None)
    handles = None if handle == "others" else {handle}
    ended = own_sessions.end_sessions(
        redis, g.tenant.id, current_user.id, handles=handles, keep_sid=keep
    )
    if handle != "others" and not ended:
        abort(404)
    flash(f"Signed out {ended} other session{'s' if ended != 1 else ''}.", "success")
    return redirect(url_for("console.security"))


@bp.route("/audit")
@requires("audit.view")
def audit_log():
    """The clinic's audit history, newest first: filters, paging, the chain's integrity."""
    form, filters, ok = _audit_filters()
    rows = history.audit_rows(db.session, g.tenant, filters) if ok else []
    broken = audit.verify_chain(db.session, g.tenant.id)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    older = None
    if len(rows) == history.PAGE:
        older = url_for("console.audit_log", **args, before=rows[-1].seq)
    page = render_template(
        "admin/audit.html",
        rows=rows,
        form=form,
        broken=broken,
        older=older,
        newest=url_for("console.audit_log", **args) if filters.before else None,
        csv_url=url_for("console.audit_csv", **args),
        zone=g.tenant.timezone,
    )
    return page, 200 if ok else 422


@bp.route("/audit.csv")
@requires("audit.view")
def audit_csv():
    """The filtered history as CSV (times in the clinic's zone, with the zone named)."""
    form, filters, ok = _audit_filters()
    if not ok:
        abort(422)
    filters.before = None
    rows = history.audit_rows(db.session, g.tenant, filters, limit=history.CSV_LIMIT)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Entry",
            f"Time ({g.tenant.timezone})",
            "Who",
            "What",
            "Event code",
            "Target",
            "Details",
            "From",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.seq,
                r.when.strftime("%Y-%m-%d %H:%M:%S %Z"),
                r.actor,
                r.action,
                r.code,
                r.target,
                "; ".join(f"{k}: {v}" for k, v in r.details),
                r.ip,
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-history.csv"'},
    )


def _audit_filters() -> tuple[AuditFilterForm, history.Filters, bool]:
    """The filter form from the query string, and the filters it gives (or its errors)."""
    form = AuditFilterForm(formdata=request.args)
    form.actor.choices = [("", "Anyone"), *history.actor_choices(db.session, g.tenant)]
    form.action.choices = [("", "Any action"), *history.action_choices(db.session, g.tenant)]
    ok = form.validate()
    for f in (form.date_from, form.date_to):
        if f.errors:
            f.errors[:] = ["Enter a real date, like 2026-03-31."]
    if ok and form.date_from.data and form.date_to.data and form.date_from.data > form.date_to.data:
        form.date_to.errors.append("The end date must be on or after the start date.")
        ok = False
    filters = history.Filters()
    if ok:
        filters.actor = uuid.UUID(form.actor.data) if form.actor.data else None
        filters.action = form.action.data or None
        filters.first, filters.last = form.date_from.data, form.date_to.data
        words = (form.patient.data or "").strip()
        if words:
            filters.patients = history.patients_named(db.session, g.tenant, words)
        filters.before = seq_param("before")
    return form, filters, ok


# -- support access (owner's consent) -----------------------------------------------------
def _support_page(form=None, *, status=200):
    return render_template(
        "admin/support_access.html",
        form=form or SupportAccessForm(),
        button=PlainForm(),
        active=support_access.active_grant(db.session, g.tenant.id),
        grants=support_access.recent_grants(db.session, g.tenant.id),
        zone=ZoneInfo(g.tenant.timezone),
    ), status


@bp.route("/support-access")
@requires("support.grant")
def support_access_page():
    """Let Similia support look at the clinic's console information, for a while."""
    return _support_page()


@bp.route("/support-access", methods=["POST"])
@requires("support.grant")
def grant_support():
    """Grant support access for 1, 4 or 24 hours."""
    form = SupportAccessForm()
    if not form.validate_on_submit():
        return _support_page(form, status=422)
    grant = support_access.grant_support_access(
        db.session, g.tenant, current_user._get_current_object(), int(form.hours.data)
    )
    until = grant.expires_at.astimezone(ZoneInfo(g.tenant.timezone))
    flash(f"Similia support may look until {until:%d %b %Y, %H:%M} ({until.tzinfo}).", "success")
    return redirect(url_for("console.support_access_page"))


@bp.route("/support-access/revoke", methods=["POST"])
@requires("support.grant")
def revoke_support():
    """End support access now."""
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        support_access.revoke_support_access(
            db.session, g.tenant, current_user._get_current_object()
        )
    except DomainError as exc:
        flash(refused(exc), "error")
    else:
        flash("Support access ended.", "success")
    return redirect(url_for("console.support_access_page"))


@bp.app_template_global("support_access_until")
def support_access_until():
    """When the clinic's support access ends (clinic's zone), or None: for the banner."""
    tenant = g.get("tenant")
    if tenant is None or not current_user.is_authenticated:
        return None
    grant = support_access.active_grant(db.session, tenant.id)
    return grant.expires_at.astimezone(ZoneInfo(tenant.timezone)) if grant else None


# -- closing the clinic (owner) -------------------------------------------------------------
def _closing_page(form=None, *, summary=None, status=200):
    return render_template(
        "admin/closing.html",
        form=form or CloseClinicForm(),
        button=PlainForm(),
        grace_days=closing.GRACE.days,
        summary=summary,
    ), status


@bp.route("/closing")
@requires("clinic.close")
def closing_page():
    """Close the clinic: a grace period, then deletion for good; or cancel it."""
    return _closing_page()


@bp.route("/closing", methods=["POST"])
@limiter.limit("10/hour;5/minute")
@requires("clinic.close")
def request_deletion():
    """The owner asks for the clinic's deletion (password and code again)."""
    form = CloseClinicForm()
    if not form.validate_on_submit():
        return _closing_page(form, status=422)
    user = current_user._get_current_object()
    try:
        closing.confirm_owner(db.session, user, form.password.data, form.code.data)
        end = closing.request_deletion(db.session, g.tenant, user, form.reason.data)
    except DomainError as exc:
        db.keep_on_error()  # a used code stays used
        form.password.data = form.code.data = ""
        summary = form_errors(form, exc)
        return _closing_page(form, summary=summary, status=status_of(exc))
    flash(f"{g.tenant.name} will be deleted on {end:%d %B %Y} (UTC).", "success")
    return redirect(url_for("console.closing_page"))


@bp.route("/closing/cancel", methods=["POST"])
@requires("clinic.close")
def cancel_deletion():
    """The owner keeps the clinic after all."""
    if not PlainForm().validate_on_submit():
        abort(400)
    closing.cancel_deletion(db.session, g.tenant, current_user._get_current_object())
    flash("The deletion is cancelled: your clinic works as before.", "success")
    return redirect(url_for("console.closing_page"))


# -- the whole clinic's export (owner) -----------------------------------------------------------
def _export_page(form=None, *, summary=None, status=200):
    export = clinic_export.latest(db.session, g.tenant)
    return render_template(
        "admin/clinic_export.html",
        form=form or ClinicExportForm(),
        export=export,
        zone=ZoneInfo(g.tenant.timezone),
        summary=summary,
        ttl_days=clinic_export.EXPORT_TTL.days,
    ), status


@bp.route("/clinic-export")
@requires("clinic.export")
def clinic_export_page():
    """Export the whole clinic: ask (password and code again), then download once."""
    return _export_page()


@bp.route("/clinic-export", methods=["POST"])
@limiter.limit("10/hour;5/minute")
@requires("clinic.export")
def request_clinic_export():
    """The owner asks for the export of the whole clinic."""
    form = ClinicExportForm()
    if not form.validate_on_submit():
        return _export_page(form, status=422)
    user = current_user._get_current_object()
    try:
        closing.confirm_owner(db.session, user, form.password.data, form.code.data)
        clinic_export.request_clinic_export(db.session, g.tenant, user)
    except DomainError as exc:
        db.keep_on_error()  # a used code stays used
        form.password.data = form.code.data = ""
        summary = form_errors(form, exc)
        return _export_page(form, summary=summary, status=status_of(exc))
    flash(
        "Export requested. It is prepared in the background; we email you when it is ready.",
        "success",
    )
    return redirect(url_for("console.clinic_export_page"))


@bp.route("/clinic-export/<uuid:export_id>/download")
@requires("clinic.export")
def download_clinic_export(export_id: uuid.UUID):
    """Download the ready export (once; then it is destroyed)."""
    export = clinic_export.access(db.session, g.tenant, export_id)
    try:
        data = clinic_export.download_clinic_export(
            db.session, g.tenant, current_user._get_current_object(), export
        )
    except DomainError as exc:
        if status_of(exc) == 404:
            raise
        flash(refused(exc), "error")
        return redirect(url_for("console.clinic_export_page"))
    return send_file(
        io.BytesIO(data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{g.tenant.slug}-export-{export.ready_at:%Y%m%d}.zip",
        max_age=0,
    )
