"""API schemas for signup."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from saas.inputs import single_line


class SignupSchema(Schema):
    """Create a clinic and its owner account."""

    name = fields.String(required=True, validate=[validate.Length(min=1, max=120), single_line])
    slug = fields.String(required=True, metadata={"description": "Address: <slug>.<base domain>"})
    timezone = fields.String(required=True, metadata={"example": "Europe/London"})
    country = fields.String(required=True, validate=validate.Length(equal=2))
    currency = fields.String(validate=validate.Length(equal=3))
    owner_name = fields.String(
        required=True, validate=[validate.Length(min=1, max=120), single_line]
    )
    owner_email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)


class TenantSchema(Schema):
    """A clinic as its owner sees it."""

    id = fields.UUID()
    slug = fields.String()
    name = fields.String()
    timezone = fields.String()
    country = fields.String()
    currency = fields.String()
    status = fields.String()
    url = fields.String()


class OwnerSchema(Schema):
    """The owner account created at signup."""

    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    role = fields.String()


class MfaEnrolmentSchema(Schema):
    """TOTP enrolment, shown this once."""

    secret = fields.String()
    otpauth_uri = fields.String()


class SignupResultSchema(Schema):
    """Result of a signup."""

    tenant = fields.Nested(TenantSchema)
    owner = fields.Nested(OwnerSchema)
    mfa = fields.Nested(MfaEnrolmentSchema)
