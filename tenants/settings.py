"""Clinic settings: the clinic's own sections and the one settings API.

Every section of the registry (:mod:`saas.settings`) is served at
``GET/PATCH /api/v1/settings/<section>``, with its schema in the OpenAPI document;
``GET /api/v1/settings`` returns them all. This module declares the clinic's own sections:

- ``clinic``: name, time zone and currency (columns of the tenant row) and the contact
  details shown on the public page (address, phone, email), changed by owners and admins;
- ``branding``: colours (checked for WCAG AA contrast), tagline, welcome text and opening
  hours shown on the clinic's pages; the logo has its own table (:mod:`tenants.branding`).

Other areas declare theirs next to the code that reads them (``records`` in
``saas/records/settings.py``, ``feeds`` in ``saas/scheduling/settings.py``).

Deprecated aliases, kept for existing clients: ``GET/PATCH /api/v1/clinic`` (the clinic,
branding and feed-privacy keys in one object; a PATCH is split by section and applied through
the same :func:`saas.settings.update_settings`), ``/api/v1/practice/settings`` and
``/api/v1/records/settings``.
"""

from __future__ import annotations

import re

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from saas import db, settings
from saas.actors import Actor
from saas.exceptions import Invalid
from saas.inputs import single_line
from saas.records import intake as _intake_settings  # noqa: F401 - declares "intake"
from saas.records import settings as _records_settings  # noqa: F401 - declares "records"
from saas.scheduling import settings as _feed_settings  # noqa: F401 - declares "feeds"
from saas.security.rbac import current_actor, requires
from saas.web import CLINIC, serve_on

from .branding import branding_check, normalise_origin
from .rules import CURRENCIES, timezone_problem

blp = Blueprint("settings_api", __name__, url_prefix="/api/v1", description="Clinic settings")
serve_on(blp, CLINIC)

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
PHONE_RE = re.compile(r"^[0-9+()\- ]*$")
EMAIL_RE = re.compile(r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ClinicProfileSchema(Schema):
    """The clinic's name, contact details, time zone and currency."""

    name = fields.String(validate=[validate.Length(min=1, max=120), single_line])
    #: IANA zone; schedules are written in it.
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    #: ISO 4217 code of new visit types' prices (existing prices keep theirs).
    currency = fields.String(
        validate=validate.OneOf(sorted(CURRENCIES), error="Choose a supported currency.")
    )
    address = fields.String(validate=validate.Length(max=500), load_default="")
    phone = fields.String(
        validate=[
            validate.Length(max=40),
            validate.Regexp(PHONE_RE, error="Use digits, spaces and + ( ) - only."),
        ],
        load_default="",
    )
    email = fields.String(
        validate=[
            validate.Length(max=254),
            validate.Regexp(EMAIL_RE, error="Use an email address such as info@clinic.example."),
        ],
        load_default="",
    )


def _profile_check(values: dict) -> dict[str, str]:
    problem = timezone_problem(values.get("timezone") or "")
    return {"timezone": problem} if problem else {}


class OriginField(fields.String):
    """A web site's origin, trimmed and lower-cased (checked by ``branding_check``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_origin(super()._deserialize(value, attr, data, **kwargs))


class BrandingSchema(Schema):
    """How the clinic's pages look (colours are checked for contrast, see tenants.branding)."""

    brand_color = fields.String(
        validate=validate.Regexp(COLOR_RE, error="Use a colour like #2f6f5e."),
        load_default="#2f6f5e",
    )
    accent_color = fields.String(
        validate=validate.Regexp(COLOR_RE, error="Use a colour like #1f5c4d."),
        load_default="#1f5c4d",
    )
    tagline = fields.String(validate=[validate.Length(max=160), single_line], load_default="")
    #: Shown at the top of the public page (plain text, line breaks kept).
    welcome_text = fields.String(validate=validate.Length(max=1000), load_default="")
    #: Shown on the public page (plain text, e.g. "Mon-Fri 9:00-17:00").
    opening_hours = fields.String(validate=validate.Length(max=500), load_default="")
    #: The patient portal's footer links to these (plain text; empty: "not published yet").
    privacy_notice = fields.String(validate=validate.Length(max=5000), load_default="")
    imprint = fields.String(validate=validate.Length(max=2000), load_default="")
    #: The portal's default language (patients may switch).
    language = fields.String(validate=validate.OneOf(["en", "de"]), load_default="en")
    #: Origins of the clinic's own web site allowed to show the booking pages in an iframe
    #: (``https://www.clinic.example``); empty: only the clinic's own portal may frame them.
    embed_origins = fields.List(
        OriginField(validate=validate.Length(max=200)),
        validate=validate.Length(max=10, error="List at most 10 addresses."),
        load_default=list,
    )


CLINIC = settings.declare(
    settings.Section(
        name="clinic",
        schema=ClinicProfileSchema,
        permission="settings.manage",
        audit_action="settings.clinic_changed",
        description="The clinic's name, contact details, time zone and currency.",
        columns=frozenset({"name", "timezone", "currency"}),
        check=_profile_check,
    )
)
BRANDING = settings.declare(
    settings.Section(
        name="branding",
        schema=BrandingSchema,
        permission="settings.manage",
        audit_action="settings.branding_changed",
        description="Colours, tagline, welcome text and opening hours of the clinic's pages.",
        check=branding_check,
    )
)


def _tenant():
    """The clinic of this request, attached to the request's session."""
    tenant = db.session.merge(g.tenant)
    g.tenant = tenant
    return tenant


def _staff() -> Actor:
    return Actor.for_staff(current_actor())


class AllSettingsSchema(Schema):
    """Every section by name (each as ``GET /settings/<section>`` returns it)."""

    class Meta:
        unknown = INCLUDE

    clinic = fields.Nested(ClinicProfileSchema)
    branding = fields.Nested(BrandingSchema)
    records = fields.Dict()
    feeds = fields.Dict()
    booking = fields.Dict()
    intake = fields.Dict()
    reminders = fields.Dict()


@blp.route("/settings")
class AllSettings(MethodView):
    """Every settings section of the clinic."""

    @requires("console.view")
    @blp.response(200, AllSettingsSchema)
    def get(self):
        """Read every section, with defaults filled in."""
        return {name: settings.read(g.tenant, name) for name in sorted(settings.SECTIONS)}


def _section_view(sec: settings.Section) -> None:
    """Register ``GET/PATCH /settings/<name>`` for one section, documented by its schema."""

    class SectionView(MethodView):
        @requires("console.view")
        @blp.response(200, sec.schema)
        def get(self):
            return settings.read(g.tenant, sec.name)

        @requires(sec.permission)
        @blp.arguments(sec.schema(partial=True))
        @blp.response(200, sec.schema)
        def patch(self, changes):
            tenant = _tenant()
            settings.update_settings(db.session, tenant, _staff(), sec.name, changes)
            return settings.read(tenant, sec.name)

    SectionView.get.__doc__ = f"Read the {sec.name} settings. {sec.description}"
    SectionView.patch.__doc__ = f"Change the {sec.name} settings (needs {sec.permission})."
    SectionView.__name__ = f"{sec.name.title()}Settings"
    blp.route(f"/settings/{sec.name}", endpoint=f"settings_{sec.name}")(SectionView)


for _sec in sorted(settings.SECTIONS.values(), key=lambda s: s.name):
    _section_view(_sec)


# -- deprecated alias: /api/v1/clinic ------------------------------------------------------
#: Which section each key of the old combined object belongs to.
LEGACY_KEYS = {
    "name": "clinic",
    "timezone": "clinic",
    "brand_color": "branding",
    "tagline": "branding",
    "patient_names_in_feeds": "feeds",
}


class ClinicSchema(Schema):
    """The clinic as its staff see it (deprecated combined view)."""

    id = fields.UUID(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String()
    timezone = fields.String()
    currency = fields.String(dump_only=True)
    country = fields.String(dump_only=True)
    brand_color = fields.String()
    tagline = fields.String()
    patient_names_in_feeds = fields.String()


def clinic_view(tenant) -> dict:
    """Tenant columns plus the legacy settings keys, read through the registry."""
    values = {}
    for key, name in LEGACY_KEYS.items():
        values[key] = settings.read(tenant, name)[key]
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "currency": tenant.currency,
        "country": tenant.country,
        **values,
    }


@blp.route("/clinic")
class Clinic(MethodView):
    """Deprecated alias of ``/settings/clinic``, ``/settings/branding`` and ``/settings/feeds``."""

    @blp.response(200, ClinicSchema)
    @requires("console.view")
    def get(self):
        """Read the clinic (deprecated: use ``GET /api/v1/settings``)."""
        return clinic_view(g.tenant)

    @requires("settings.manage")
    @blp.arguments(ClinicSchema(partial=True))
    @blp.response(200, ClinicSchema)
    def patch(self, changes):
        """Change name, zone, branding or feed privacy (deprecated: use ``/settings/<section>``)."""
        tenant = _tenant()
        by_section: dict[str, dict] = {}
        for key, value in changes.items():
            by_section.setdefault(LEGACY_KEYS[key], {})[key] = value
        actor, problems = _staff(), {}
        for name, part in by_section.items():
            try:
                settings.update_settings(db.session, tenant, actor, name, part)
            except Invalid as exc:  # collect every section's problems into one answer
                problems.update(exc.errors)
        if problems:
            raise Invalid(problems)
        return clinic_view(tenant)
