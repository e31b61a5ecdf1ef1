"""Scheduling fixtures: a configured practice, patients, an API helper, a live server.

A live gunicorn server serves the concurrency tests.

Practices are configured through the staff API (so every test also exercises it);
patients are created with ``saas.patients.create_patient`` plus a portal token row, which
skips password hashing (the portal sign-in itself is tested in ``tests/test_patients_api``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests

from tests.conftest import ROOT, new_client

COUNTRY = {
    "Europe/Berlin": "DE",
    "Europe/London": "GB",
    "Asia/Kolkata": "IN",
    "America/New_York": "US",
    "America/Sao_Paulo": "BR",
}


@dataclass
class Api:
    """A client for one clinic's host with a bearer token."""

    client: object
    host: str
    token: str | None = None

    def _headers(self, token):
        token = self.token if token is ... else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path, *, token=..., **params):
        """GET with query parameters."""
        return self.client.get(
            path, query_string=params, headers=self._headers(token), base_url=f"http://{self.host}"
        )

    def send(self, method, path, json=None, *, token=...):
        """POST/PUT/PATCH/DELETE with a JSON body."""
        return self.client.open(
            path,
            method=method,
            json=json,
            headers=self._headers(token),
            base_url=f"http://{self.host}",
        )

    def post(self, path, json=None, *, token=...):
        """POST a JSON body."""
        return self.send("POST", path, json, token=token)

    def as_(self, token) -> Api:
        """The same host with another token."""
        return Api(self.client, self.host, token)


@dataclass
class Patient:
    """A patient with a portal token."""

    id: uuid.UUID
    token: str
    full_name: str


@dataclass
class Practice:
    """A clinic configured for booking: one location, one practitioner, one service."""

    clinic: object
    owner: Api
    tz: str
    location_id: str
    practitioner_id: str
    service_id: str
    extra: dict = field(default_factory=dict)

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
        """A booking body for the default service, practitioner and location."""
        return {
            "service_id": self.service_id,
            "practitioner_id": self.practitioner_id,
            "location_id": self.location_id,
            "start": start.isoformat(),
            **over,
        }

    def slots(self, api: Api | None = None, **params) -> list[str]:
        """Free starts (ISO strings) of the default service, all groups merged."""
        api = api or self.owner.as_(None)
        params.setdefault("service_id", self.service_id)
        resp = api.get("/api/v1/slots", **params)
        assert resp.status_code == 200, resp.get_json()
        return sorted(s for g in resp.get_json()["groups"] for s in g["starts"])


def check(resp, status: int):
    """Assert the status, showing the body when it differs; returns the JSON body."""
    body = resp.get_json(silent=True)
    assert resp.status_code == status, (resp.status_code, body)
    return body


@pytest.fixture
def make_practice(app, make_clinic, token_for):
    """Configure a practice through the staff API.

    Defaults: one in-person location in the clinic's zone, one practitioner, a 60-minute
    service without buffers, weekly hours 09:00–17:00 every day, rules with a 30-minute
    step, 60 minutes notice and a year's advance window.
    """

    def build(
        tz: str = "Europe/Berlin",
        *,
        windows: list[tuple[int, str, str]] | None = None,
        service: dict | None = None,
        rules: dict | None = None,
    ) -> Practice:
        clinic = make_clinic(timezone=tz, country=COUNTRY.get(tz, "GB"))
        owner = Api(new_client(app), clinic.host, token_for(clinic))
        loc = check(
            owner.post(
                "/api/v1/practice/locations", {"name": "Main practice", "address": "1 Remedy Lane"}
            ),
            201,
        )
        prac = check(
            owner.post(
                "/api/v1/practice/practitioners",
                {"display_name": "Dr. Anna Weber", "title": "Homeopath"},
            ),
            201,
        )
        body = {
            "name": "Follow-up consultation",
            "duration_minutes": 60,
            "price_minor": 6000,
            "practitioner_ids": [prac["id"]],
            "location_ids": [loc["id"]],
            **(service or {}),
        }
        svc = check(owner.post("/api/v1/practice/visit-types", body), 201)
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
            **(rules or {}),
        }
        check(owner.send("PUT", "/api/v1/practice/booking-rules", rules), 200)
        return Practice(clinic, owner, tz, loc["id"], prac["id"], svc["id"])

    return build


@pytest.fixture
def make_patient(app):
    """Create a patient of a clinic with a portal session token."""
    from saas.db import tenant_session
    from saas.models import PatientToken, Tenant, utcnow
    from saas.patients import TOKEN_PREFIX, create_patient
    from saas.security.secrets import digest, new_token

    def make(clinic, full_name: str = "Maria Schmidt") -> Patient:
        plain = TOKEN_PREFIX + new_token()
        with app.app_context(), tenant_session(clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            patient = create_patient(sess, tenant, full_name=full_name)
            sess.add(
                PatientToken(
                    id=uuid.uuid4(),
                    tenant_id=clinic.id,
                    patient_id=patient.id,
                    purpose="session",
                    token_hash=digest(plain),
                    expires_at=utcnow() + dt.timedelta(days=1),
                )
            )
            pid = patient.id
        return Patient(pid, plain, full_name)

    return make


@pytest.fixture
def make_staff(app, token_for):
    """Add a staff member with ``role`` (TOTP enrolled) to a clinic; returns (user id, token)."""
    import pyotp

    from saas.db import tenant_session
    from saas.fields import seal_field
    from saas.models import Tenant, User, utcnow
    from saas.security.passwords import hash_password

    def make(clinic, role: str, name: str = "Sam Staff") -> tuple[uuid.UUID, str]:
        secret, password = pyotp.random_base32(), "staff password 2026"
        email = f"{role}-{uuid.uuid4().hex[:6]}@{clinic.slug}.example.org"
        with app.app_context(), tenant_session(clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            user = User(
                id=uuid.uuid4(),
                tenant_id=clinic.id,
                email=email,
                name=name,
                role=role,
                password_hash=hash_password(password),
            )
            sess.add(user)
            sess.flush()
            user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, secret)
            user.mfa_enrolled_at = utcnow()
            user_id = user.id
        return user_id, token_for(clinic, email=email, password=password, secret=secret)

    return make


@pytest.fixture
def sql(owner_dsn):
    """Run SQL as the database owner (RLS off): for inspecting rows and moving time."""

    def run(query: str, *params):
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("SET row_security = off")
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else cur.rowcount

    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(app):
    """The app under gunicorn (4 workers x 4 threads) on a free port, for real concurrency."""
    port = _free_port()
    log = open(ROOT / ".var" / f"gunicorn-{os.getpid()}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "saas.wsgi:app",
        ],
        cwd=ROOT,
        env={**os.environ, "SAAS_PUBLIC_PORT": str(port)},
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"gunicorn did not start; see {log.name}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
