"""Clinic API: bearer tokens, the caller, staff, invitations, audit log."""

from __future__ import annotations

import uuid

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from saas import audit, db
from saas.apispec_names import public_operation
from saas.exceptions import NotFound
from saas.extensions import limiter
from saas.inputs import seq_param
from saas.models import AuditEntry, User
from saas.security import auth
from saas.security.rbac import PERMISSIONS, requires
from saas.security.tokens import issue_token, revoke_token, token_ttl
from saas.web import CLINIC, serve_on

from .schemas import (
    AuditEntrySchema,
    InvitationRequestSchema,
    InvitationSchema,
    MeSchema,
    RoleChangeSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from .services import change_role, invite_staff, list_staff_in_tenant

blp = Blueprint("clinic_api", __name__, url_prefix="/api/v1", description="Staff and sign-in")
serve_on(blp, CLINIC)


@blp.route("/auth/token")
class Token(MethodView):
    """Bearer tokens for the clinic's API."""

    decorators = [limiter.limit("20/minute", methods=["POST"])]

    @public_operation
    @blp.arguments(TokenRequestSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, description="Credentials refused (generic message)")
    def post(self, data):
        """Exchange email, password and a TOTP code for a bearer token."""
        ip = request.remote_addr
        try:
            user = auth.authenticate_password(
                db.session, g.tenant, data["email"], data["password"], ip
            )
        except auth.AuthError:
            db.keep_on_error()  # the failure's audit entry stays
            raise
        codes = None
        if user.mfa_enrolled_at is None:
            # first use after signup or invitation: the code confirms the authenticator
            if not auth.claim_attempt(g.tenant.id, user.email, ip):
                raise auth.AuthError(auth.LOCKED)
            codes = auth.complete_enrolment(db.session, g.tenant, user, data["otp"])
            ok = codes is not None
            if ok:
                auth.release_attempt(g.tenant.id, user.email, ip)
                audit.record(
                    db.session, g.tenant.id, "auth.sign_in", actor=user, data={"via": "api"}
                )
        else:
            ok = auth.second_factor(db.session, g.tenant, user, data["otp"], ip)
        if not ok:
            db.keep_on_error()  # the failed attempt counts
            raise auth.AuthError(auth.BAD_CODE)
        ttl = token_ttl()
        plain, _ = issue_token(db.session, user, ttl)
        audit.record(db.session, g.tenant.id, "auth.token_issued", actor=user)
        body = {"access_token": plain, "token_type": "Bearer", "expires_in": ttl}
        if codes is not None:
            body["recovery_codes"] = codes  # enrolment just completed: shown this once
        return body

    @blp.response(204)
    @requires("console.view")
    def delete(self):
        """Revoke the bearer token used for this request."""
        revoke_token(db.session, g.api_token)
        audit.record(db.session, g.tenant.id, "auth.token_revoked", actor=g.api_user)


@blp.route("/me")
class Me(MethodView):
    """The signed-in staff member."""

    @blp.response(200, MeSchema)
    @requires("console.view")
    def get(self):
        """Who am I, in which clinic, with which permissions."""
        user = g.api_user
        user.tenant_slug, user.tenant_name = g.tenant.slug, g.tenant.name
        user.permissions = sorted(PERMISSIONS[user.role])
        return user


@blp.route("/staff")
class Staff(MethodView):
    """The clinic's staff."""

    @blp.response(200, UserSchema(many=True))
    @requires("staff.view")
    def get(self):
        """List staff members."""
        return list_staff_in_tenant(db.session, g.tenant)


@blp.route("/staff/<uuid:user_id>/role")
class StaffRole(MethodView):
    """A staff member's role."""

    @requires("staff.manage")
    @blp.arguments(RoleChangeSchema)
    @blp.response(200, UserSchema)
    def put(self, data, user_id: uuid.UUID):
        """Change a staff member's role."""
        user = db.session.scalar(
            select(User).where(User.tenant_id == g.tenant.id, User.id == user_id)
        )
        if user is None:
            raise NotFound("No such staff member.")
        change_role(db.session, g.tenant, g.api_user, user, data["role"])
        return user


@blp.route("/staff/invitations")
class Invitations(MethodView):
    """Staff invitations."""

    @requires("staff.invite")
    @blp.arguments(InvitationRequestSchema)
    @blp.response(201, InvitationSchema)
    def post(self, data):
        """Invite someone by email with a role."""
        invitation, _ = invite_staff(db.session, g.tenant, g.api_user, **data)
        return invitation


@blp.route("/audit")
class Audit(MethodView):
    """The clinic's audit log."""

    @blp.response(200, AuditEntrySchema(many=True))
    @requires("audit.view")
    def get(self):
        """Newest entries first (``?before=<seq>`` pages back, 100 per page)."""
        q = select(AuditEntry).where(AuditEntry.tenant_id == g.tenant.id)
        if before := seq_param("before"):
            q = q.where(AuditEntry.seq < before)
        return list(db.session.scalars(q.order_by(AuditEntry.seq.desc()).limit(100)))
