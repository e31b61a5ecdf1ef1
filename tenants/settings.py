"""Clinic settings and branding: what owners and admins change about their clinic.

Settings live in ``tenants.settings`` (JSONB, never clinical data). Every change writes a
``settings.changed`` audit entry naming the keys and their old and new values.
"""

from __future__ import annotations

import re

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from saas import audit, db
from saas.security.rbac import current_actor, requires

from .rules import timezone_problem

blp = Blueprint(
    "clinic_settings_api", __name__, url_prefix="/api/v1/clinic", description="Clinic settings"
)

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Settings keys with their defaults (decisions: privacy first, initials in calendar feeds).
DEFAULTS = {
    "brand_color": "#2f6f5e",
    "tagline": "",
    "patient_names_in_feeds": "initials",
}


class ClinicSchema(Schema):
    """The clinic as its staff see it."""

    id = fields.UUID(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(validate=validate.Length(min=1, max=120))
    timezone = fields.String()
    currency = fields.String(dump_only=True)
    country = fields.String(dump_only=True)
    brand_color = fields.String(
        validate=validate.Regexp(COLOR_RE, error="Use a colour like #2f6f5e.")
    )
    tagline = fields.String(validate=validate.Length(max=160))
    patient_names_in_feeds = fields.String(validate=validate.OneOf(["initials", "full", "none"]))


def clinic_view(tenant) -> dict:
    """Tenant columns plus settings with defaults filled in."""
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "country": tenant.country,
        **{k: (tenant.settings or {}).get(k, v) for k, v in DEFAULTS.items()},
    }


def update_clinic_settings(sess, tenant, actor, changes: dict) -> dict:
    """Apply changes; returns ``{key: [old, new]}`` for what actually changed (audited)."""
    if "timezone" in changes and (problem := timezone_problem(changes["timezone"])):
        raise ValueError({"timezone": [problem]})
    diff = {}
    settings = dict(tenant.settings or {})
    for key, new in changes.items():
        if key in ("name", "timezone"):
            old = getattr(tenant, key)
            if old != new:
                setattr(tenant, key, new)
                diff[key] = [old, new]
        else:
            old = settings.get(key, DEFAULTS[key])
            if old != new:
                settings[key] = new
                diff[key] = [old, new]
    if diff:
        tenant.settings = settings
        audit.record(
            sess,
            tenant.id,
            "settings.changed",
            actor=actor,
            target=f"tenant:{tenant.slug}",
            data=diff,
        )
    return diff


@blp.route("")
class Clinic(MethodView):
    """The clinic's settings."""

    @blp.response(200, ClinicSchema)
    @requires("console.view")
    def get(self):
        """Read the clinic's settings and branding."""
        return clinic_view(g.tenant)

    @requires("settings.manage")
    @blp.arguments(ClinicSchema(partial=True))
    @blp.response(200, ClinicSchema)
    def patch(self, changes):
        """Change the clinic's name, time zone, branding or privacy settings."""
        tenant = db.session.merge(g.tenant)
        try:
            update_clinic_settings(db.session, tenant, current_actor(), changes)
        except ValueError as exc:
            abort(422, message="Some fields are invalid.", errors={"json": exc.args[0]})
        db.session.commit()
        g.tenant = tenant
        return clinic_view(tenant)
