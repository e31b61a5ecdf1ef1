"""A practice ready for booking, configured through the staff API as an owner would."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import factory

from tests.client import Api, check

from .base import ServiceFactory

#: A country for each zone the tests use (signup wants a matching one for the currency).
COUNTRY = {
    "Europe/Berlin": "DE",
    "Europe/London": "GB",
    "Asia/Kolkata": "IN",
    "America/New_York": "US",
    "America/Sao_Paulo": "BR",
}


@dataclass
class Practice:
    """A clinic configured for booking: one location, one practitioner, one visit type.

    ``owner`` is an :class:`~tests.client.Api` signed in as the clinic's owner.
    """

    clinic: object
    owner: Api
    tz: str
    location_id: str
    practitioner_id: str
    service_id: str
    extra: dict = field(default_factory=dict)

    @property
    def visit_type_id(self) -> str:
        """The visit type (``service_id`` in the API's older naming)."""
        return self.service_id

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's zone."""
        return ZoneInfo(self.tz)

    def day(self, days_ahead: int = 3) -> dt.date:
        """A local date ``days_ahead`` from today."""
        return dt.datetime.now(self.zone).date() + dt.timedelta(days=days_ahead)

    def at(self, day: dt.date, hhmm: str) -> dt.datetime:
        """A wall-clock time on ``day`` in the clinic's zone (first occurrence)."""
        h, m = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time(h, m), self.zone)

    def booking(self, start: dt.datetime, **over) -> dict:
        """A booking body for the default visit type, practitioner and location."""
        return {
            "service_id": self.service_id,
            "practitioner_id": self.practitioner_id,
            "location_id": self.location_id,
            "start": start.isoformat(),
            **over,
        }

    def slots(self, api: Api | None = None, **params) -> list[str]:
        """Free starts (ISO strings) of the default visit type, all groups merged."""
        api = api or self.owner.as_(None)
        params.setdefault("service_id", self.service_id)
        resp = api.get("/api/v1/slots", **params)
        assert resp.status_code == 200, resp.get_json()
        return sorted(s for g in resp.get_json()["groups"] for s in g["starts"])


class PracticeFactory(ServiceFactory):
    """``PracticeFactory(tz="Asia/Kolkata")``: a new clinic set up through the staff API.

    Defaults: one in-person location in the clinic's zone, one practitioner, a 60-minute
    visit type without buffers, weekly hours 09:00-17:00 every day (``windows``: a list of
    ``(iso_weekday, "HH:MM", "HH:MM")``), rules with a 30-minute step, 60 minutes notice and
    a year's advance window. ``location``, ``practitioner``, ``service`` and ``rules``
    override fields of those request bodies (``practitioner={"user_id": ...}`` links a
    staff account). ``colleagues``: bodies of more practitioners with the same hours who
    offer the visit type (their ids in ``practice.extra["colleague_ids"]``).

    ``clinic=`` sets up an existing clinic instead (its own zone is used), as its owner
    unless ``owner=`` gives a signed-in :class:`~tests.client.Api` to use.
    """

    class Meta:
        model = Practice

    tz = "Europe/Berlin"
    clinic = factory.SubFactory(
        "tests.factories.clinic.ClinicFactory",
        timezone=factory.SelfAttribute("..tz"),
        country=factory.LazyAttribute(lambda o: COUNTRY.get(o.timezone, "GB")),
    )
    owner = None
    windows = None
    location = None
    practitioner = None
    colleagues = ()
    service = None
    rules = None

    @classmethod
    def _make(
        cls, app, *, clinic, tz, owner, windows, location, practitioner, colleagues, **bodies
    ):
        owner = owner or Api(app, clinic, clinic.owner.sign_in())
        loc = check(
            owner.post(
                "/api/v1/practice/locations",
                {"name": "Main practice", "address": "1 Remedy Lane", **(location or {})},
            ),
            201,
        )
        people = [
            {"display_name": "Dr. Anna Weber", "title": "Homeopath", **(practitioner or {})},
            *colleagues,
        ]
        pracs = [check(owner.post("/api/v1/practice/practitioners", p), 201) for p in people]
        body = {
            "name": "Follow-up consultation",
            "duration_minutes": 60,
            "price_minor": 6000,
            "practitioner_ids": [p["id"] for p in pracs],
            "location_ids": [loc["id"]],
            **(bodies["service"] or {}),
        }
        visit_type = check(owner.post("/api/v1/practice/services", body), 201)
        for prac in pracs:
            for weekday, start, end in windows or [(d, "09:00", "17:00") for d in range(1, 8)]:
                check(
                    owner.post(
                        "/api/v1/practice/availability",
                        {
                            "practitioner_id": prac["id"],
                            "location_id": loc["id"],
                            "weekday": weekday,
                            "start_time": start,
                            "end_time": end,
                        },
                    ),
                    201,
                )
        rules = {
            "slot_step_minutes": 30,
            "min_notice_minutes": 60,
            "max_advance_days": 365,
            **(bodies["rules"] or {}),
        }
        check(owner.send("PUT", "/api/v1/practice/booking-rules", rules), 200)
        zone = clinic.timezone  # equals ``tz`` unless an existing clinic was passed
        practice = Practice(clinic, owner, zone, loc["id"], pracs[0]["id"], visit_type["id"])
        if colleagues:
            practice.extra["colleague_ids"] = [p["id"] for p in pracs[1:]]
        return practice
