"""Fixtures for records tests.

A clinic team (owner, practitioner, receptionist, admin) with bearer tokens, a second clinic, and a
small API client that sends the clinic's Host.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import psycopg
import pyotp
import pytest

from tests.conftest import Clinic, new_client

PASSWORD = "remedy arnica 30C"


@dataclass
class Member:
    """A staff member with a bearer token."""

    id: uuid.UUID
    email: str
    role: str
    token: str


class Api:
    """Calls the API on one clinic's host with one bearer token."""

    def __init__(self, app, clinic: Clinic, token: str | None):
        self.client = new_client(app)
        self.clinic = clinic
        self.token = token

    def _kw(self, kw):
        headers = kw.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return {"headers": headers, "base_url": f"http://{self.clinic.host}", **kw}

    def get(self, path, **kw):
        """GET."""
        return self.client.get(path, **self._kw(kw))

    def post(self, path, json=None, **kw):
        """POST."""
        return self.client.post(path, json=json, **self._kw(kw))

    def put(self, path, json=None, **kw):
        """PUT."""
        return self.client.put(path, json=json, **self._kw(kw))

    def patch(self, path, json=None, **kw):
        """PATCH."""
        return self.client.patch(path, json=json, **self._kw(kw))

    def delete(self, path, **kw):
        """DELETE."""
        return self.client.delete(path, **self._kw(kw))


@pytest.fixture
def add_staff(app, token_for):
    """Insert a staff member with a known TOTP secret (as tenants/demo.py does); get a token."""
    from saas.db import tenant_session
    from saas.fields import seal_field
    from saas.models import Tenant, User, utcnow
    from saas.security.passwords import hash_password

    def add(clinic: Clinic, role: str) -> Member:
        email = f"{role}-{uuid.uuid4().hex[:6]}@{clinic.slug}.example.org"
        secret = pyotp.random_base32()
        with app.app_context(), tenant_session(clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            user = User(
                id=uuid.uuid4(),
                tenant_id=clinic.id,
                email=email,
                name=f"{role.title()} {clinic.slug}",
                role=role,
                password_hash=hash_password(PASSWORD),
            )
            sess.add(user)
            sess.flush()
            user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, secret)
            user.mfa_enrolled_at = utcnow()
            user_id = user.id
        token = token_for(clinic, email=email, password=PASSWORD, secret=secret)
        return Member(user_id, email, role, token)

    return add


@dataclass
class Team:
    """Clinic A with every role, and clinic B's owner (for cross-tenant checks)."""

    app: object
    clinic: Clinic
    owner: Member
    practitioner: Member
    receptionist: Member
    other: Clinic
    other_owner: Member
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
def team(app, make_clinic, token_for, add_staff) -> Team:
    """A fresh clinic team plus a second clinic."""
    a, b = make_clinic(), make_clinic()
    owner = Member(a.owner_id, a.owner_email, "owner", token_for(a))
    other = Member(b.owner_id, b.owner_email, "owner", token_for(b))
    return Team(app, a, owner, add_staff(a, "practitioner"), add_staff(a, "receptionist"), b, other)


@pytest.fixture
def raw(owner_dsn):
    """Run SQL as the owner with row security off (to scan what is really stored)."""

    def run(sql, params=()):
        with psycopg.connect(owner_dsn) as conn:
            conn.execute("SET row_security = off")
            return conn.execute(sql, params).fetchall()

    return run


def new_patient(api: Api, **fields) -> dict:
    """Create a patient through the API; returns the JSON."""
    body = {
        "full_name": "Maya Krishnan",
        "email": f"maya-{uuid.uuid4().hex[:6]}@example.org",
        "phone": "+44 20 7946 0958",
        "date_of_birth": "1984-03-09",
        "address": "12 Orchard Lane, Bristol",
        "emergency_contact": "Ravi Krishnan +44 7700 900123",
        "preferred_language": "en",
        **fields,
    }
    resp = api.post("/api/v1/patients", json=body)
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
