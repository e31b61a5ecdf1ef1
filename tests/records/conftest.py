"""Fixtures for records tests.

A clinic team (owner, practitioner, receptionist, admin) with bearer tokens, a second clinic,
and the API client (:class:`tests.client.Api`) on the clinic's host. Staff come from
``tests/factories``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import pytest

from tests.client import Api  # noqa: F401 - re-exported for records tests
from tests.factories import Clinic, PatientDataFactory, StaffFactory, StaffMember


@pytest.fixture
def add_staff(app):
    """A staff member of ``clinic`` with ``role``, TOTP enrolled and signed in (``.token``)."""

    def add(clinic: Clinic, role: str) -> StaffMember:
        return StaffFactory(clinic=clinic, role=role).signed_in()

    return add


@dataclass
class Team:
    """Clinic A with every role, and clinic B's owner (for cross-tenant checks)."""

    app: object
    clinic: Clinic
    owner: StaffMember
    practitioner: StaffMember
    receptionist: StaffMember
    other: Clinic
    other_owner: StaffMember
    extra: dict = field(default_factory=dict)

    def api(self, who: str = "practitioner") -> Api:
        """A client for one role of clinic A (``other`` = clinic B's owner on B's host)."""
        if who == "other":
            return Api(self.app, self.other, self.other_owner.token)
        if who == "other_on_a":
            return Api(self.app, self.clinic, self.other_owner.token)
        if who == "anonymous":
            return Api(self.app, self.clinic, None)
        return Api(
            self.app,
            self.clinic,
            getattr(self, who).token if hasattr(self, who) else self.extra[who].token,
        )


@pytest.fixture
def team(app, make_clinic, add_staff) -> Team:
    """A fresh clinic team plus a second clinic."""
    a, b = make_clinic(), make_clinic()
    return Team(
        app,
        a,
        a.owner.signed_in(),
        add_staff(a, "practitioner"),
        add_staff(a, "receptionist"),
        b,
        b.owner.signed_in(),
    )


@pytest.fixture
def raw(owner_dsn):
    """Run SQL as the owner with row security off (to scan what is really stored)."""

    def run(sql, params=()):
        with psycopg.connect(owner_dsn) as conn:
            conn.execute("SET row_security = off")
            return conn.execute(sql, params).fetchall()

    return run


def new_patient(api: Api, **fields) -> dict:
    """Create a patient through the API (``PatientDataFactory`` body); returns the JSON."""
    resp = api.post("/api/v1/patients", json=PatientDataFactory(**fields))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


CASE = {
    "presenting_complaints": [
        {
            "complaint": "Migraine, right-sided, throbbing",
            "location": "right temple",
            "onset": "after grief",
            "worse_for": "sun, noise",
            "better_for": "pressure, dark room",
        }
    ],
    "mentals": "Weeps when alone; averse to consolation",
    "generals": "Craves salt; thirsty for large quantities",
    "observations": "Reserved, composed",
}


def new_visit(api: Api, patient_id, **fields) -> dict:
    """Open a visit with the standard case note."""
    body = {"kind": "initial", "visit_date": "2026-01-15", "note": CASE, **fields}
    resp = api.post(f"/api/v1/patients/{patient_id}/visits", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def add_practice(api: Api, *, user_id=None, colleague: bool = False) -> dict:
    """Set a clinic up for booking through the staff API (``api``: an owner's client).

    One location, a practitioner (linked to the staff account ``user_id`` when given) with
    weekly hours 09:00-17:00 every day, a 60-minute visit type they offer, and booking rules
    with a 30-minute step. ``colleague`` adds a second practitioner with the same hours and
    visit type. Returns the ids (``location_id``, ``practitioner_id``, ``visit_type_id``,
    ``colleague_id``).
    """

    def created(resp) -> dict:
        assert resp.status_code in (200, 201), resp.get_json()
        return resp.get_json()

    loc = created(
        api.post("/api/v1/practice/locations", json={"name": "Main", "address": "1 Remedy Lane"})
    )
    people = [{"display_name": "Dr. Asha Rao", "title": "Homeopath", "user_id": user_id}]
    if colleague:
        people.append({"display_name": "Dr. Ben Colleague", "title": "Homeopath"})
    pracs = [created(api.post("/api/v1/practice/practitioners", json=p)) for p in people]
    visit_type = created(
        api.post(
            "/api/v1/practice/services",
            json={
                "name": "Follow-up consultation",
                "duration_minutes": 60,
                "price_minor": 6000,
                "practitioner_ids": [p["id"] for p in pracs],
                "location_ids": [loc["id"]],
            },
        )
    )
    for prac in pracs:
        for weekday in range(1, 8):
            created(
                api.post(
                    "/api/v1/practice/availability",
                    json={
                        "practitioner_id": prac["id"],
                        "location_id": loc["id"],
                        "weekday": weekday,
                        "start_time": "09:00",
                        "end_time": "17:00",
                    },
                )
            )
    rules = {"slot_step_minutes": 30, "min_notice_minutes": 60, "max_advance_days": 365}
    created(api.put("/api/v1/practice/booking-rules", json=rules))
    return {
        "location_id": loc["id"],
        "practitioner_id": pracs[0]["id"],
        "visit_type_id": visit_type["id"],
        "colleague_id": pracs[1]["id"] if colleague else None,
    }
