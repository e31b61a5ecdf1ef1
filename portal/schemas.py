"""Patient API schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class RegisterSchema(Schema):
    """Portal self-registration (email first: the password is chosen via the emailed link)."""

    full_name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    email = fields.Email(required=True)


class RegisterResultSchema(Schema):
    """The same answer for every address."""

    status = fields.String()
    message = fields.String()


class VerifySchema(Schema):
    """The token from the emailed link and the password the patient chooses."""

    token = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


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
