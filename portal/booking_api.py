"""The public booking catalogue on the clinic's host: visit types, practitioners, places, slots.

No token is needed; a token that is sent must be valid on this host. Booking and
everything after it (``/api/v1/appointments``, the waitlist) is the appointments API in
:mod:`saas.scheduling.api`.

Decisions:

- Slot ranges are bounded (:data:`saas.scheduling.queries.MAX_RANGE`, 62 days) so one
  request costs at most two months of one clinic's calendar; ``from``/``to`` given as dates
  are whole days in the clinic's zone (``to`` inclusive); times in responses carry the
  location's UTC offset.
- **Answers are reused** (:data:`_ANSWERS`): a slot search's JSON is kept per worker process
  under the clinic's id, its versions (configuration, bookings, row) and the query, so
  visitors asking the same question between two changes get the same bytes without a
  search or a serialization. An answer lives at most :data:`ANSWER_SECONDS` and never past
  the moment its first start becomes too soon to book. The view reads recent versions
  (:func:`saas.web.reads_recent`): a booking made in another process shows within a second.
- The catalogue of visit types is ``/api/v1/visit-types``; ``/api/v1/services`` answers the
  same as a documented deprecated alias until the portal issue lands. The query field
  ``service_id`` of ``/slots`` (and the ``service`` block of its answer) keep their names for
  compatibility: they are the visit type's.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from flask import Response, current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from saas import db
from saas.apispec_names import public_operation
from saas.extensions import limiter
from saas.memo import Expiring
from saas.models import utcnow
from saas.scheduling.access import check_presented_credentials
from saas.scheduling.aliases import add_deprecated_alias
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.queries import bounded_range, search_slots, visit_type_links
from saas.scheduling.slots import local_to_utc
from saas.web import CLINIC, reads_recent, serve_on

from .booking_schemas import (
    PublicLocationSchema,
    PublicPractitionerSchema,
    PublicVisitTypeSchema,
    SlotQuerySchema,
    SlotsSchema,
)

blp = Blueprint(
    "booking_api",
    __name__,
    url_prefix="/api/v1",
    description="Online booking: the public catalogue and free slots",
)
serve_on(blp, CLINIC)


def public(view):
    """A public route: no token needed, but a token that is sent must be valid here."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        check_presented_credentials()
        return view(*args, **kwargs)

    return public_operation(wrapped)


#: Reused slot-search answers (see the module's decisions): at most 512, and 16 MB together,
#: per process (four weeks of ten practitioners with an empty calendar is ~250 KB).
_ANSWERS = Expiring(512, max_bytes=16 * 1024 * 1024)
ANSWER_SECONDS = 60


def _answer_key(args, start: dt.datetime, end: dt.datetime) -> tuple | None:
    """The reuse key of this search, or None when it must not be reused (no versions)."""
    seen = db.versions(db.session)
    # the clinic this request resolved must be the one the versions describe (a sent token
    # may have opened a transaction since, which reads newer versions than the lease)
    if seen is None or seen.tenant_row != g.get("tenant_row"):
        return None
    return (
        g.tenant.id,
        seen,
        str(args["service_id"]),
        start,
        end,
        str(args.get("practitioner_id")),
        str(args.get("location_id")),
    )


def _instant(value, zone: ZoneInfo, *, end: bool) -> dt.datetime:
    """A query bound as an instant: dates are local midnights (an end date includes its day)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else local_to_utc(value, zone)
    day = value + dt.timedelta(days=1) if end else value
    return local_to_utc(dt.datetime.combine(day, dt.time()), zone)


@blp.route("/slots")
@reads_recent
class Slots(MethodView):
    """Free start times."""

    decorators = [limiter.limit("300/minute")]

    @public
    @blp.arguments(SlotQuerySchema, location="query")
    @blp.response(200, SlotsSchema)
    def get(self, args):
        """Free starts of a visit type in a range of at most 62 days, by practitioner and place."""
        zone = ZoneInfo(g.tenant.timezone)
        start, end = bounded_range(
            _instant(args["start"], zone, end=False), _instant(args["end"], zone, end=True)
        )
        now = utcnow()
        key = _answer_key(args, start, end)
        body = _ANSWERS.get(key, now) if key is not None else None
        if body is None:
            body, until = self._search(args, zone, start, end, now)
            if key is not None:
                _ANSWERS.put(key, body, until)
        return Response(body, 200, mimetype="application/json")

    @staticmethod
    def _search(args, zone, start, end, now) -> tuple[bytes, dt.datetime]:
        """The answer's JSON and the instant it stops being valid."""
        found = search_slots(
            db.session,
            g.tenant.id,
            args["service_id"],
            start,
            end,
            practitioner_id=args.get("practitioner_id"),
            location_id=args.get("location_id"),
            now=now,
        )
        groups: dict = {}
        for o in found.offerings:
            groups[(o.practitioner_id, o.location_id)] = {
                "practitioner": {"id": o.practitioner_id, "display_name": o.practitioner_name},
                "location": {
                    "id": o.location_id,
                    "name": o.location_name,
                    "kind": o.location_kind,
                    "timezone": o.timezone,
                },
                "starts": [],
            }
        for slot in found.slots:
            groups[(slot.practitioner_id, slot.location_id)]["starts"].append(
                slot.start.isoformat()
            )
        answer = SlotsSchema().dump(
            {
                "service": found.visit_type,
                "timezone": g.tenant.timezone,
                "start": start.astimezone(zone).isoformat(),
                "end": end.astimezone(zone).isoformat(),
                "count": len(found.slots),
                "groups": list(groups.values()),
            }
        )
        until = now + dt.timedelta(seconds=ANSWER_SECONDS)
        if found.slots:  # the first start becomes too soon to book
            notice = found.rules.policy().min_notice
            until = min(until, min(s.start for s in found.slots) - notice)
        return current_app.json.dumps(answer).encode(), until


@blp.route("/visit-types")
class PublicVisitTypes(MethodView):
    """Bookable visit types."""

    @public
    @blp.response(200, PublicVisitTypeSchema(many=True))
    def get(self):
        """Active visit types with who offers them where."""
        rows = db.session.scalars(
            select(VisitType)
            .where(VisitType.tenant_id == g.tenant.id, VisitType.is_active.is_(True))
            .order_by(VisitType.name)
        ).all()
        out = []
        for s in rows:
            practitioner_ids, location_ids = visit_type_links(db.session, g.tenant.id, s.id)
            out.append(
                {
                    **{
                        k: getattr(s, k)
                        for k in PublicVisitTypeSchema._declared_fields
                        if hasattr(s, k)
                    },
                    "practitioner_ids": practitioner_ids,
                    "location_ids": location_ids,
                }
            )
        return out


add_deprecated_alias(
    blp, "/services", PublicVisitTypes, of="/api/v1/visit-types", until="the portal issue lands"
)


@blp.route("/practitioners")
class PublicPractitioners(MethodView):
    """The clinic's practitioners."""

    @public
    @blp.response(200, PublicPractitionerSchema(many=True))
    def get(self):
        """Active practitioners' public profiles."""
        return db.session.scalars(
            select(Practitioner)
            .where(Practitioner.tenant_id == g.tenant.id, Practitioner.is_active.is_(True))
            .order_by(Practitioner.display_name)
        ).all()


@blp.route("/locations")
class PublicLocations(MethodView):
    """Where patients are seen."""

    @public
    @blp.response(200, PublicLocationSchema(many=True))
    def get(self):
        """Active locations."""
        return db.session.scalars(
            select(Location)
            .where(Location.tenant_id == g.tenant.id, Location.is_active.is_(True))
            .order_by(Location.name)
        ).all()
