"""API schemas for authentication, staff and the audit log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from saas.inputs import single_line
from saas.models import ROLES


class TokenRequestSchema(Schema):
    """Credentials for a bearer token."""

    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)
    otp = fields.String(
        required=True, load_only=True, metadata={"description": "TOTP or recovery code"}
    )


class TokenSchema(Schema):
    """A new bearer token (shown once)."""

    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    recovery_codes = fields.List(
        fields.String(),
        metadata={"description": "Only on the request that completed MFA enrolment (shown once)"},
    )


class UserSchema(Schema):
    """A staff member."""

    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    is_active = fields.Boolean()
    mfa_enrolled = fields.Function(lambda u: u.mfa_enrolled_at is not None)


class MeSchema(UserSchema):
    """The caller, with their clinic and permissions."""

    tenant = fields.Function(lambda u: {"slug": u.tenant_slug, "name": u.tenant_name})
    permissions = fields.List(fields.String())


class InvitationRequestSchema(Schema):
    """Invite a staff member."""

    email = fields.Email(required=True)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=120), single_line])
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class InvitationSchema(Schema):
    """An open invitation."""

    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    expires_at = fields.DateTime()


class RoleChangeSchema(Schema):
    """New role."""

    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class AuditEntrySchema(Schema):
    """One audit entry."""

    seq = fields.Integer()
    created_at = fields.DateTime()
    actor_label = fields.String()
    #: staff, patient, operator, system or payment_provider (null before kinds were kept)
    actor_kind = fields.String(allow_none=True)
    action = fields.String()
    target = fields.String(allow_none=True)
    ip = fields.Function(
        lambda e: str(e.ip) if e.ip is not None else None,
        metadata={"type": "string", "nullable": True},
    )
    #: None for entries written by a job or the command line
    request_id = fields.String(allow_none=True)
    data = fields.Dict()
    hash = fields.String()
