"""Patient API schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class RegisterSchema(Schema):
    """Portal self-registration."""

    full_name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)


class VerifySchema(Schema):
    """Email verification token from the emailed link."""

    token = fields.String(required=True)


class PatientLoginSchema(Schema):
    """Portal sign-in."""

    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)


class PatientTokenSchema(Schema):
    """A portal bearer token."""

    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class PatientSelfSchema(Schema):
    """The signed-in patient."""

    id = fields.UUID()
    full_name = fields.String()
    email = fields.String()
    email_verified = fields.Boolean()
