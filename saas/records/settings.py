"""The ``records`` settings section: who reads clinical content, retention, follow-up invites.

Declared in the settings registry (:mod:`saas.settings`); read it with
``saas.settings.read(tenant, "records")`` or :func:`saas.records.policy.records_settings`.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from saas import settings

LEVELS = ("none", "read", "write")


class AccessLevelsSchema(Schema):
    """Clinical access of the configurable roles."""

    owner = fields.String(validate=validate.OneOf(LEVELS))
    admin = fields.String(validate=validate.OneOf(LEVELS))


class RecordsSettingsSchema(Schema):
    """Per-clinic records settings."""

    #: owner (default write) and admin (default none); practitioners always write,
    #: receptionists never read.
    clinical_access = fields.Nested(
        AccessLevelsSchema, load_default=lambda: {"owner": "write", "admin": "none"}
    )
    #: Years the clinical record is kept after the last visit (an erasure within it keeps the
    #: record; the daily job erases inactive patients after it); None: not configured.
    #: Owners only (:mod:`saas.records.retention`).
    retention_years = fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=100), load_default=None
    )
    #: Days before a follow-up window opens that the patient is invited to book.
    follow_up_invite_lead_days = fields.Integer(
        validate=validate.Range(min=0, max=60), load_default=7
    )


RECORDS = settings.declare(
    settings.Section(
        name="records",
        schema=RecordsSettingsSchema,
        permission="settings.manage",
        audit_action="records.settings_changed",
        description="Clinical access of owners and admins, retention, follow-up invitations.",
        owner_only=frozenset({"clinical_access", "retention_years"}),
    )
)
