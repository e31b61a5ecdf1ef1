"""Practice configuration API (staff).

Locations, practitioners, visit types, weekly hours, time off and extra hours, closures,
booking rules, scheduling settings, calendar feeds.

Reading needs ``schedule.view``; changing needs ``practice.manage``. A practitioner may
also manage their own calendar feed. Every id is looked up within the clinic of the host,
so another clinic's id is a plain 404.

Decisions: visit types live at ``/visit-types``; ``/services`` (and ``/services/<id>``,
``/services/<id>/booking-rules``) answer the same as documented deprecated aliases until
the portal issue lands. Their fields keep the names clients know (``service_id`` on rules
and bookings). The views only parse, call a verb and present: the request owns the
transaction and refusals are domain errors (:mod:`saas.errors`).
"""

from __future__ import annotations

import uuid

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from saas import db
from saas.exceptions import Forbidden, not_found
from saas.scheduling import feeds
from saas.scheduling.access import staff_actor
from saas.scheduling.aliases import add_deprecated_alias
from saas.scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    BookingRules,
    Closure,
    Location,
    Practitioner,
    VisitType,
)
from saas.scheduling.practice import (
    availability,
    availability_exceptions,
    booking_rules,
    closures,
    locations,
    practitioners,
    settings,
    visit_types,
)
from saas.scheduling.queries import (
    get_location_in_tenant,
    get_practitioner_in_tenant,
    get_visit_type_in_tenant,
    visit_type_links,
)
from saas.scheduling.rules import RULE_FIELDS, effective_rules, rule_rows
from saas.security.rbac import can, requires
from saas.web import CLINIC, serve_on

from .schemas import (
    AvailabilityPatchSchema,
    AvailabilityQuerySchema,
    AvailabilitySchema,
    BookingRulesSchema,
    BookingRulesViewSchema,
    CalendarFeedSchema,
    ClosureSchema,
    ExceptionQuerySchema,
    ExceptionSchema,
    LocationPatchSchema,
    LocationSchema,
    PracticeSettingsSchema,
    PractitionerPatchSchema,
    PractitionerSchema,
    VisitTypePatchSchema,
    VisitTypeSchema,
)

blp = Blueprint(
    "practice_api",
    __name__,
    url_prefix="/api/v1/practice",
    description="Practice configuration: locations, practitioners, visit types, hours, rules",
)
serve_on(blp, CLINIC)

VIEW, MANAGE = "schedule.view", "practice.manage"
UNTIL = "the portal issue lands"


def _run(verb, *args, **kwargs):
    """Call a configuration verb as the signed-in staff member."""
    return verb(db.session, g.tenant, staff_actor(), *args, **kwargs)


def _get(getter, object_id, what: str):
    """The clinic's object, or the same 404 for missing and another clinic's."""
    obj = getter(db.session, g.tenant.id, object_id)
    if obj is None:
        raise not_found(what)
    return obj


# -- locations ---------------------------------------------------------------------------------


@blp.route("/locations")
class Locations(MethodView):
    """The clinic's locations."""

    @requires(VIEW)
    @blp.response(200, LocationSchema(many=True))
    def get(self):
        """List locations (archived ones too)."""
        return db.session.scalars(
            select(Location).where(Location.tenant_id == g.tenant.id).order_by(Location.name)
        ).all()

    @requires(MANAGE)
    @blp.arguments(LocationSchema)
    @blp.response(201, LocationSchema)
    def post(self, data):
        """Add a location (time zone defaults to the clinic's)."""
        return _run(locations.create_location, data)


@blp.route("/locations/<uuid:location_id>")
class LocationItem(MethodView):
    """One location."""

    @requires(VIEW)
    @blp.response(200, LocationSchema)
    def get(self, location_id: uuid.UUID):
        """Show a location."""
        return _get(get_location_in_tenant, location_id, "location")

    @requires(MANAGE)
    @blp.arguments(LocationPatchSchema)
    @blp.response(200, LocationSchema)
    def patch(self, data, location_id: uuid.UUID):
        """Change a location."""
        loc = _get(get_location_in_tenant, location_id, "location")
        return _run(locations.update_location, loc, data)

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, location_id: uuid.UUID):
        """Archive a location: no new bookings there; appointments stay."""
        loc = _get(get_location_in_tenant, location_id, "location")
        _run(locations.update_location, loc, {"is_active": False})


# -- practitioners -----------------------------------------------------------------------------


@blp.route("/practitioners")
class Practitioners(MethodView):
    """The clinic's practitioners."""

    @requires(VIEW)
    @blp.response(200, PractitionerSchema(many=True))
    def get(self):
        """List practitioners (archived ones too)."""
        return db.session.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == g.tenant.id)
            .order_by(Practitioner.display_name)
        ).all()

    @requires(MANAGE)
    @blp.arguments(PractitionerSchema)
    @blp.response(201, PractitionerSchema)
    def post(self, data):
        """Add a practitioner profile."""
        return _run(practitioners.create_practitioner, data)


@blp.route("/practitioners/<uuid:practitioner_id>")
class PractitionerItem(MethodView):
    """One practitioner."""

    @requires(VIEW)
    @blp.response(200, PractitionerSchema)
    def get(self, practitioner_id: uuid.UUID):
        """Show a practitioner."""
        return _get(get_practitioner_in_tenant, practitioner_id, "practitioner")

    @requires(MANAGE)
    @blp.arguments(PractitionerPatchSchema)
    @blp.response(200, PractitionerSchema)
    def patch(self, data, practitioner_id: uuid.UUID):
        """Change a practitioner's profile."""
        p = _get(get_practitioner_in_tenant, practitioner_id, "practitioner")
        return _run(practitioners.update_practitioner, p, data)

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, practitioner_id: uuid.UUID):
        """Archive a practitioner: no new bookings; appointments stay."""
        p = _get(get_practitioner_in_tenant, practitioner_id, "practitioner")
        _run(practitioners.update_practitioner, p, {"is_active": False})


@blp.route("/practitioners/<uuid:practitioner_id>/calendar-feed")
class PractitionerFeed(MethodView):
    """The practitioner's secret calendar subscription URL."""

    def _practitioner(self, practitioner_id):
        p = _get(get_practitioner_in_tenant, practitioner_id, "practitioner")
        user = g.api_user
        if not (can(user.role, MANAGE) or (p.user_id is not None and p.user_id == user.id)):
            raise Forbidden("Only the practitioner or a practice manager can manage this feed.")
        return p

    @requires(VIEW)
    @blp.response(201, CalendarFeedSchema)
    def post(self, practitioner_id: uuid.UUID):
        """Issue a new feed URL (shown once); the previous URL stops working."""
        p = self._practitioner(practitioner_id)
        token = _run(feeds.issue_feed, p)
        url = current_app.config["SIMILIA"].public_url(g.tenant.slug, f"/calendar/{token}.ics")
        return {"url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}

    @requires(VIEW)
    @blp.response(204)
    def delete(self, practitioner_id: uuid.UUID):
        """Revoke the feed URL."""
        p = self._practitioner(practitioner_id)
        _run(feeds.revoke_feeds, p)


# -- visit types -------------------------------------------------------------------------------


def _visit_type_dict(s: VisitType) -> dict:
    practitioner_ids, location_ids = visit_type_links(db.session, g.tenant.id, s.id)
    return {
        **{c: getattr(s, c) for c in VisitTypeSchema._declared_fields if hasattr(s, c)},
        "practitioner_ids": practitioner_ids,
        "location_ids": location_ids,
    }


@blp.route("/visit-types")
class VisitTypes(MethodView):
    """The clinic's visit types."""

    @requires(VIEW)
    @blp.response(200, VisitTypeSchema(many=True))
    def get(self):
        """List visit types (archived ones too)."""
        rows = db.session.scalars(
            select(VisitType).where(VisitType.tenant_id == g.tenant.id).order_by(VisitType.name)
        ).all()
        return [_visit_type_dict(s) for s in rows]

    @requires(MANAGE)
    @blp.arguments(VisitTypeSchema)
    @blp.response(201, VisitTypeSchema)
    def post(self, data):
        """Add a visit type offered by some practitioners at some locations."""
        return _visit_type_dict(_run(visit_types.create_visit_type, data))


@blp.route("/visit-types/<uuid:visit_type_id>")
class VisitTypeItem(MethodView):
    """One visit type."""

    @requires(VIEW)
    @blp.response(200, VisitTypeSchema)
    def get(self, visit_type_id: uuid.UUID):
        """Show a visit type."""
        return _visit_type_dict(_get(get_visit_type_in_tenant, visit_type_id, "visit type"))

    @requires(MANAGE)
    @blp.arguments(VisitTypePatchSchema)
    @blp.response(200, VisitTypeSchema)
    def patch(self, data, visit_type_id: uuid.UUID):
        """Change a visit type (``practitioner_ids``/``location_ids`` replace the sets)."""
        s = _get(get_visit_type_in_tenant, visit_type_id, "visit type")
        return _visit_type_dict(_run(visit_types.update_visit_type, s, data))

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, visit_type_id: uuid.UUID):
        """Archive a visit type: no new bookings; appointments stay."""
        s = _get(get_visit_type_in_tenant, visit_type_id, "visit type")
        _run(visit_types.update_visit_type, s, {"is_active": False})


def _rules_view(row: BookingRules | None, service_id=None) -> dict:
    own = {k: getattr(row, k) if row else None for k in RULE_FIELDS}
    effective = effective_rules(db.session, g.tenant.id, service_id)
    return {"own": own, "effective": {k: getattr(effective, k) for k in RULE_FIELDS}}


@blp.route("/visit-types/<uuid:visit_type_id>/booking-rules")
class VisitTypeRules(MethodView):
    """A visit type's overrides of the clinic's booking rules."""

    @requires(VIEW)
    @blp.response(200, BookingRulesViewSchema)
    def get(self, visit_type_id: uuid.UUID):
        """The visit type's overrides and the rules in force for it."""
        s = _get(get_visit_type_in_tenant, visit_type_id, "visit type")
        return _rules_view(rule_rows(db.session, g.tenant.id, s.id)[1], s.id)

    @requires(MANAGE)
    @blp.arguments(BookingRulesSchema)
    @blp.response(200, BookingRulesViewSchema)
    def put(self, data, visit_type_id: uuid.UUID):
        """Set overrides (null inherits the clinic's value); e.g. a 28–42 day follow-up."""
        s = _get(get_visit_type_in_tenant, visit_type_id, "visit type")
        row = _run(booking_rules.set_booking_rules, data, visit_type=s)
        return _rules_view(row, s.id)


for _old, _view, _new in (
    ("/services", VisitTypes, "/visit-types"),
    ("/services/<uuid:visit_type_id>", VisitTypeItem, "/visit-types/{visit_type_id}"),
    (
        "/services/<uuid:visit_type_id>/booking-rules",
        VisitTypeRules,
        "/visit-types/{visit_type_id}/booking-rules",
    ),
):
    add_deprecated_alias(blp, _old, _view, of=f"/api/v1/practice{_new}", until=UNTIL)


@blp.route("/booking-rules")
class ClinicRules(MethodView):
    """The clinic's booking rules."""

    @requires(VIEW)
    @blp.response(200, BookingRulesViewSchema)
    def get(self):
        """The clinic's rules as set and as in force (defaults fill the gaps)."""
        return _rules_view(rule_rows(db.session, g.tenant.id, None)[0])

    @requires(MANAGE)
    @blp.arguments(BookingRulesSchema)
    @blp.response(200, BookingRulesViewSchema)
    def put(self, data):
        """Set the clinic's rules: slot step, notice, advance window, cutoffs, fee, hold time."""
        return _rules_view(_run(booking_rules.set_booking_rules, data))


# -- weekly availability -----------------------------------------------------------------------


@blp.route("/availability")
class Availability(MethodView):
    """Weekly availability windows."""

    @requires(VIEW)
    @blp.arguments(AvailabilityQuerySchema, location="query")
    @blp.response(200, AvailabilitySchema(many=True))
    def get(self, args):
        """List weekly windows (filter by practitioner or location)."""
        q = select(AvailabilityRule).where(AvailabilityRule.tenant_id == g.tenant.id)
        if "practitioner_id" in args:
            q = q.where(AvailabilityRule.practitioner_id == args["practitioner_id"])
        if "location_id" in args:
            q = q.where(AvailabilityRule.location_id == args["location_id"])
        return db.session.scalars(
            q.order_by(AvailabilityRule.weekday, AvailabilityRule.start_time)
        ).all()

    @requires(MANAGE)
    @blp.arguments(AvailabilitySchema)
    @blp.response(201, AvailabilitySchema)
    def post(self, data):
        """Add a weekly window (must not overlap the practitioner's other windows)."""
        return _run(availability.create_availability_rule, data)


@blp.route("/availability/<uuid:rule_id>")
class AvailabilityItem(MethodView):
    """One weekly window."""

    @requires(VIEW)
    @blp.response(200, AvailabilitySchema)
    def get(self, rule_id: uuid.UUID):
        """Show a weekly window."""
        return _get(availability.get_availability_rule_in_tenant, rule_id, "availability window")

    @requires(MANAGE)
    @blp.arguments(AvailabilityPatchSchema)
    @blp.response(200, AvailabilitySchema)
    def patch(self, data, rule_id: uuid.UUID):
        """Change a weekly window."""
        w = _get(availability.get_availability_rule_in_tenant, rule_id, "availability window")
        return _run(availability.update_availability_rule, w, data)

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, rule_id: uuid.UUID):
        """Remove a weekly window (booked appointments stay)."""
        w = _get(availability.get_availability_rule_in_tenant, rule_id, "availability window")
        _run(availability.delete_availability_rule, w)


# -- exceptions --------------------------------------------------------------------------------


@blp.route("/exceptions")
class Exceptions(MethodView):
    """Time off and extra hours."""

    @requires(VIEW)
    @blp.arguments(ExceptionQuerySchema, location="query")
    @blp.response(200, ExceptionSchema(many=True))
    def get(self, args):
        """List time off and extra hours (filter by practitioner and range)."""
        q = select(AvailabilityException).where(AvailabilityException.tenant_id == g.tenant.id)
        if "practitioner_id" in args:
            q = q.where(AvailabilityException.practitioner_id == args["practitioner_id"])
        if "end" in args:
            q = q.where(AvailabilityException.starts_at < args["end"])
        if "start" in args:
            q = q.where(AvailabilityException.ends_at > args["start"])
        return db.session.scalars(q.order_by(AvailabilityException.starts_at).limit(500)).all()

    @requires(MANAGE)
    @blp.arguments(ExceptionSchema)
    @blp.response(201, ExceptionSchema)
    def post(self, data):
        """Add time off (blocks every location unless one is given) or extra hours."""
        data = {**data, "start": data.pop("starts_at"), "end": data.pop("ends_at")}
        return _run(availability_exceptions.create_exception, data)


@blp.route("/exceptions/<uuid:exception_id>")
class ExceptionItem(MethodView):
    """One exception."""

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, exception_id: uuid.UUID):
        """Remove time off or extra hours."""
        exc = _get(availability_exceptions.get_exception_in_tenant, exception_id, "exception")
        _run(availability_exceptions.delete_exception, exc)


# -- closures ----------------------------------------------------------------------------------


@blp.route("/closures")
class Closures(MethodView):
    """Clinic-wide or per-location closures and holidays."""

    @requires(VIEW)
    @blp.response(200, ClosureSchema(many=True))
    def get(self):
        """List closures, latest first."""
        return db.session.scalars(
            select(Closure)
            .where(Closure.tenant_id == g.tenant.id)
            .order_by(Closure.start_date.desc())
            .limit(500)
        ).all()

    @requires(MANAGE)
    @blp.arguments(ClosureSchema)
    @blp.response(201, ClosureSchema)
    def post(self, data):
        """Close on whole days (inclusive) — a holiday, a training day."""
        return _run(closures.create_closure, data)


@blp.route("/closures/<uuid:closure_id>")
class ClosureItem(MethodView):
    """One closure."""

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, closure_id: uuid.UUID):
        """Remove a closure."""
        c = _get(closures.get_closure_in_tenant, closure_id, "closure")
        _run(closures.delete_closure, c)


# -- settings ----------------------------------------------------------------------------------


@blp.route("/settings")
class Settings(MethodView):
    """Deprecated alias of ``/api/v1/settings/feeds`` (same registry, same write path)."""

    @requires(VIEW)
    @blp.response(200, PracticeSettingsSchema)
    def get(self):
        """Current settings."""
        return {"patient_names_in_feeds": settings.feed_name_mode(g.tenant)}

    @requires(MANAGE)
    @blp.arguments(PracticeSettingsSchema)
    @blp.response(200, PracticeSettingsSchema)
    def put(self, data):
        """Change settings."""
        _run(settings.set_feed_name_mode, data["patient_names_in_feeds"])
        return {"patient_names_in_feeds": settings.feed_name_mode(g.tenant)}
