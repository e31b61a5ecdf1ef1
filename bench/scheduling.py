"""Scheduling benchmark: slot search and booking on a realistic clinic, and platform scaling.

The benchmark clinic: 10 practitioners at 2 locations, weekly hours Monday–Friday
08:00–18:00 (4 weeks ahead), a 45-minute follow-up with a 15-minute note buffer, and
~1,500 appointments in those 4 weeks (about 75% full). It is configured through the
staff API; appointments and patients are written in bulk as the database owner.

Measured:

1. slot search over the 4 weeks, in-process (``queries.search_slots`` in a transaction)
   and through the Flask app (full request, JSON), p50/p95;
2. the same over HTTP against gunicorn (4 workers x 4 threads);
3. booking throughput and p50/p99 latency at concurrency 16 against gunicorn;
4. in-process slot search for the same clinic when the database holds 10, 100 and 1,000
   such clinics (copies with their own tenant ids), and the ratio to the 10-clinic case.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import psycopg
import pyotp
import requests
from sqlalchemy.engine import make_url

from bench import env

TZ = "Europe/Berlin"
PRACTITIONERS = 10
WEEKS = 4
TARGET_APPOINTMENTS = 1500
SEARCH_RUNS = 60
HTTP_RUNS = 40
BOOKINGS = 320
CONCURRENCY = 16
SCALES = (10, 100, 1000)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _ms(values: list[float]) -> tuple[str, str]:
    return f"{_pct(values, 50) * 1000:.1f}", f"{_pct(values, 95) * 1000:.1f}"


def _owner_dsn() -> str:
    return (
        make_url(os.environ["DATABASE_URL"])
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


class Clinic:
    """The benchmark clinic, configured through the API."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        # each clinic signs up from its own address (signup is rate-limited per address)
        self.client.environ_base["REMOTE_ADDR"] = (
            f"10.1.{random.randint(0, 255)}.{random.randint(1, 254)}"
        )
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        self.host = f"{slug}.localhost"
        body = {
            "name": "Benchmark Homeopathy",
            "slug": slug,
            "timezone": TZ,
            "country": "DE",
            "owner_name": "Olive Owner",
            "owner_email": f"owner@{slug}.example.org",
            "password": "correct horse 42",
        }
        signup = self.client.post(
            "/api/v1/signup", json=body, base_url="http://localhost"
        ).get_json()
        self.id = uuid.UUID(signup["tenant"]["id"])
        token = self.client.post(
            "/api/v1/auth/token",
            base_url=f"http://{self.host}",
            json={
                "email": body["owner_email"],
                "password": body["password"],
                "otp": pyotp.TOTP(signup["mfa"]["secret"]).now(),
            },
        ).get_json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.zone = ZoneInfo(TZ)

    def api(self, method: str, path: str, body=None, expect=(200, 201)):
        """Call the staff API on the clinic's host."""
        resp = self.client.open(
            path, method=method, json=body, headers=self.headers, base_url=f"http://{self.host}"
        )
        assert resp.status_code in expect, (path, resp.status_code, resp.get_json())
        return resp.get_json()

    def configure(self) -> None:
        """Locations, practitioners, a service and weekly hours, through the API.

        The benchmark clinic is larger than the trial plan allows: its limits are raised as
        an operator admin does for a big practice (``tenants.limit_overrides``).
        """
        with psycopg.connect(_owner_dsn(), autocommit=True) as conn:
            conn.execute(
                "UPDATE tenants SET limit_overrides = %s WHERE id = %s",
                ('{"max_practitioners": 100, "max_locations": 20}', self.id),
            )
        self.locations = [
            self.api("POST", "/api/v1/practice/locations", {"name": name, "address": addr})["id"]
            for name, addr in (("Altstadt", "Marktplatz 1"), ("Südstadt", "Ringstraße 20"))
        ]
        self.practitioners = [
            self.api(
                "POST", "/api/v1/practice/practitioners", {"display_name": f"Dr. Homeopath {n}"}
            )["id"]
            for n in range(PRACTITIONERS)
        ]
        self.service = self.api(
            "POST",
            "/api/v1/practice/visit-types",
            {
                "name": "Follow-up consultation",
                "duration_minutes": 45,
                "buffer_after_minutes": 15,
                "price_minor": 7000,
                "practitioner_ids": self.practitioners,
                "location_ids": self.locations,
            },
        )["id"]
        for n, prac in enumerate(self.practitioners):
            for weekday in range(1, 6):
                self.api(
                    "POST",
                    "/api/v1/practice/availability",
                    {
                        "practitioner_id": prac,
                        "location_id": self.locations[n % 2],
                        "weekday": weekday,
                        "start_time": "08:00",
                        "end_time": "18:00",
                    },
                )
        self.api(
            "PUT",
            "/api/v1/practice/booking-rules",
            {"slot_step_minutes": 15, "min_notice_minutes": 60, "max_advance_days": 90},
        )

    def fill(self) -> int:
        """~1,500 appointments in the next 4 weeks (75% of the hourly grid), bulk-inserted."""
        rng = random.Random(7)
        today = dt.datetime.now(self.zone).date()
        patients = [uuid.uuid4() for _ in range(PRACTITIONERS * 40)]
        rows = []
        for n, prac in enumerate(self.practitioners):
            k = 0
            for day_offset in range(1, WEEKS * 7 + 1):
                day = today + dt.timedelta(days=day_offset)
                if day.isoweekday() > 5:
                    continue
                for hour in range(8, 18):
                    if rng.random() > 0.75:
                        continue
                    start = dt.datetime.combine(day, dt.time(hour), self.zone).astimezone(dt.UTC)
                    end = start + dt.timedelta(minutes=45)
                    patient = patients[n * 40 + k % 40]  # a patient sees one practitioner
                    k += 1
                    rows.append(
                        (
                            self.id,
                            uuid.uuid4(),
                            patient,
                            uuid.UUID(prac),
                            uuid.UUID(self.locations[n % 2]),
                            uuid.UUID(self.service),
                            start,
                            end,
                            end + dt.timedelta(minutes=15),
                        )
                    )
        with psycopg.connect(_owner_dsn()) as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO patients (tenant_id, id, full_name) VALUES (%s, %s, %s)",
                    [(self.id, p, f"Patient {i}") for i, p in enumerate(patients)],
                )
                cur.executemany(
                    "INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, "
                    "location_id, service_id, "
                    "status, start_at, end_at, buffer_after_minutes, occupied, price_minor, "
                    "currency, booked_by) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'confirmed', %s, %s, 15, tstzrange(%s, %s), "
                    "7000, 'EUR', "
                    "'staff')",
                    [(t, i, pa, pr, lo, sv, s, e, s, o) for t, i, pa, pr, lo, sv, s, e, o in rows],
                )
        return len(rows)

    def patient_tokens(self, count: int) -> list[str]:
        """Patients with portal tokens for the booking benchmark."""
        from saas.security.secrets import digest, new_token

        tokens = ["simp_" + new_token() for _ in range(count)]
        with psycopg.connect(_owner_dsn()) as conn, conn.cursor() as cur:
            for n, token in enumerate(tokens):
                pid = uuid.uuid4()
                cur.execute(
                    "INSERT INTO patients (tenant_id, id, full_name) VALUES (%s, %s, %s)",
                    (self.id, pid, f"Booker {n}"),
                )
                cur.execute(
                    "INSERT INTO patient_tokens (tenant_id, id, patient_id, purpose, token_hash, "
                    "expires_at) "
                    "VALUES (%s, %s, %s, 'session', %s, now() + interval '1 day')",
                    (self.id, uuid.uuid4(), pid, digest(token)),
                )
        return tokens

    def range(self) -> tuple[str, str]:
        """The 4-week search range as query dates."""
        today = dt.datetime.now(self.zone).date()
        return today.isoformat(), (today + dt.timedelta(days=WEEKS * 7 - 1)).isoformat()


def _search_in_process(app, clinic: Clinic, runs: int) -> tuple[list[float], int]:
    from saas.db import tenant_session
    from saas.scheduling.queries import search_slots

    zone = clinic.zone
    today = dt.datetime.now(zone).date()
    start = dt.datetime.combine(today, dt.time(), zone)
    end = start + dt.timedelta(days=WEEKS * 7)
    times, found = [], 0
    with app.app_context():
        for _ in range(runs + 3):
            t0 = time.perf_counter()
            with tenant_session(clinic.id) as sess:
                found = len(search_slots(sess, clinic.id, clinic.service, start, end).slots)
            times.append(time.perf_counter() - t0)
    return times[3:], found


def _search_app(clinic: Clinic, runs: int) -> list[float]:
    frm, to = clinic.range()
    times = []
    for _ in range(runs + 3):
        t0 = time.perf_counter()
        resp = clinic.client.get(
            "/api/v1/slots",
            base_url=f"http://{clinic.host}",
            query_string={"service_id": clinic.service, "from": frm, "to": to},
        )
        assert resp.status_code == 200, resp.get_json()
        times.append(time.perf_counter() - t0)
    return times[3:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The app under gunicorn (4 workers x 4 threads) for the HTTP measurements."""

    def __enter__(self):
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
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
                "--log-level",
                "warning",
                "saas.wsgi:app",
            ],
            cwd=env.ROOT,
            env={**os.environ, "SAAS_PUBLIC_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(15)


def _xff() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _search_http(server: Gunicorn, clinic: Clinic, runs: int) -> list[float]:
    frm, to = clinic.range()
    session = requests.Session()
    times = []
    for _ in range(runs + 3):
        t0 = time.perf_counter()
        resp = session.get(
            f"{server.url}/api/v1/slots",
            timeout=30,
            headers={"Host": clinic.host, "X-Forwarded-For": _xff()},
            params={"service_id": clinic.service, "from": frm, "to": to},
        )
        assert resp.status_code == 200, resp.text
        times.append(time.perf_counter() - t0)
    return times[3:]


def _bookable_starts(app, clinic: Clinic, count: int) -> list[tuple[str, str, str]]:
    """Free, mutually non-overlapping (practitioner, location, start) triples."""
    from saas.db import tenant_session
    from saas.scheduling.queries import search_slots

    zone = clinic.zone
    start = dt.datetime.combine(
        dt.datetime.now(zone).date() + dt.timedelta(days=1), dt.time(), zone
    )
    with app.app_context(), tenant_session(clinic.id) as sess:
        found = search_slots(
            sess, clinic.id, clinic.service, start, start + dt.timedelta(days=WEEKS * 7)
        ).slots
    picked, last_end = [], {}
    for slot in found:
        if slot.start >= last_end.get(slot.practitioner_id, slot.start):
            picked.append(
                (str(slot.practitioner_id), str(slot.location_id), slot.start.isoformat())
            )
            last_end[slot.practitioner_id] = slot.end + dt.timedelta(minutes=15)
    random.Random(3).shuffle(picked)
    return picked[:count]


def _book_http(server: Gunicorn, clinic: Clinic, starts, tokens) -> tuple[list[float], dict, float]:
    lock = threading.Lock()
    latencies, outcomes = [], {}
    work = list(zip(starts, tokens, strict=False))

    def book(item):
        (prac, loc, start), token = item
        session = getattr(threading.current_thread(), "session", None) or requests.Session()
        threading.current_thread().session = session
        t0 = time.perf_counter()
        resp = session.post(
            f"{server.url}/api/v1/appointments",
            timeout=60,
            json={
                "service_id": clinic.service,
                "practitioner_id": prac,
                "location_id": loc,
                "start": start,
            },
            headers={
                "Host": clinic.host,
                "Authorization": f"Bearer {token}",
                "X-Forwarded-For": _xff(),
            },
        )
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.append(elapsed)
            outcomes[resp.status_code] = outcomes.get(resp.status_code, 0) + 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(book, work))
    return latencies, outcomes, time.perf_counter() - t0


def _clone(source: uuid.UUID, count: int, offset: int) -> float:
    """Copy the benchmark clinic ``count`` times under new tenant ids (owner, bulk SQL)."""
    t0 = time.perf_counter()
    tables = {
        "locations": "name, kind, address, timezone, is_active, created_at",
        "practitioners": "display_name, title, bio, photo_url, is_active, user_id, created_at",
        "visit_types": "name, description, duration_minutes, price_minor, currency, "
        "buffer_before_minutes, "
        "buffer_after_minutes, mode, new_patients_only, returning_patients_only, "
        "requires_prepayment, "
        "is_active, created_at",
        "availability_rules": "practitioner_id, location_id, weekday, start_time, end_time, "
        "valid_from, valid_until, "
        "created_at",
        "booking_rules": "service_id, slot_step_minutes, min_notice_minutes, max_advance_days, "
        "cancellation_cutoff_minutes, late_cancellation_fee_minor, reschedule_cutoff_minutes, "
        "hold_minutes, follow_up_min_days, follow_up_max_days, created_at",
        "patients": "full_name, status, created_at",
        "appointments": "patient_id, practitioner_id, location_id, service_id, status, start_at, "
        "end_at, "
        "buffer_before_minutes, buffer_after_minutes, occupied, hold_expires_at, price_minor, "
        "currency, booked_by, reschedule_count, updated_at, created_at",
    }
    with psycopg.connect(_owner_dsn()) as conn:
        conn.execute("SET row_security = off")
        conn.execute(
            "CREATE TEMP TABLE clones AS SELECT gen_random_uuid() AS tid, n "
            "FROM generate_series(%s::int, %s::int) n",
            (offset + 1, offset + count),
        )
        conn.execute(
            "INSERT INTO tenants (id, slug, name, timezone, country, currency, status, settings) "
            "SELECT tid, 'copy-' || n, 'Copy ' || n, timezone, country, currency, 'active', "
            "settings "
            "FROM clones, tenants WHERE tenants.id = %s",
            (source,),
        )
        for table, cols in tables.items():
            prefixed = ", ".join(f"t.{c.strip()}" for c in cols.split(","))
            conn.execute(
                f"INSERT INTO {table} (tenant_id, id, {cols}) SELECT c.tid, t.id, {prefixed} "
                f"FROM {table} t CROSS JOIN clones c WHERE t.tenant_id = %s",
                (source,),
            )
            if table == "visit_types":
                for link, link_cols in (
                    ("visit_type_practitioners", "service_id, practitioner_id"),
                    ("visit_type_locations", "service_id, location_id"),
                ):
                    conn.execute(
                        f"INSERT INTO {link} (tenant_id, {link_cols}) SELECT c.tid, {link_cols} "
                        f"FROM {link} CROSS JOIN clones c WHERE {link}.tenant_id = %s",
                        (source,),
                    )
        conn.execute("DROP TABLE clones")
    with psycopg.connect(_owner_dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def main() -> None:
    """Build the clinic, run the measurements, print the tables."""
    app = env.make_app(extra={"disable_rate_limits": True})
    logging.getLogger("similia.access").setLevel(logging.WARNING)  # keep the tables readable
    clinic = Clinic(app)
    clinic.configure()
    appointments = clinic.fill()
    with psycopg.connect(_owner_dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(
        f"\nbenchmark clinic: {PRACTITIONERS} practitioners, 2 locations, {WEEKS} weeks, "
        f"{appointments} appointments"
    )

    in_process, found = _search_in_process(app, clinic, SEARCH_RUNS)
    through_app = _search_app(clinic, SEARCH_RUNS)
    tokens = clinic.patient_tokens(BOOKINGS)
    starts = _bookable_starts(app, clinic, BOOKINGS)
    with Gunicorn() as server:
        over_http = _search_http(server, clinic, HTTP_RUNS)
        latencies, outcomes, wall = _book_http(server, clinic, starts, tokens)
    rows = [
        [
            "slot search, 4 weeks, in-process (query + engine)",
            *_ms(in_process),
            f"{found} free starts",
        ],
        ["slot search, 4 weeks, Flask app (full request, JSON)", *_ms(through_app), ""],
        ["slot search, 4 weeks, HTTP (gunicorn 4x4)", *_ms(over_http), ""],
    ]
    env.print_table("Slot search latency (ms)", ["scenario", "p50", "p95", "note"], rows)
    ok = outcomes.get(201, 0)
    env.print_table(
        f"Booking over HTTP, concurrency {CONCURRENCY} (gunicorn 4 workers x 4 threads)",
        ["bookings", "201", "409", "other", "wall s", "bookings/s", "p50 ms", "p99 ms"],
        [
            [
                len(latencies),
                ok,
                outcomes.get(409, 0),
                sum(v for k, v in outcomes.items() if k not in (201, 409)),
                f"{wall:.1f}",
                f"{len(latencies) / wall:.0f}",
                f"{_pct(latencies, 50) * 1000:.0f}",
                f"{_pct(latencies, 99) * 1000:.0f}",
            ]
        ],
    )

    with psycopg.connect(_owner_dsn()) as conn:
        per_clinic = conn.execute(
            "SELECT count(*) FROM appointments WHERE tenant_id = %s", (clinic.id,)
        ).fetchone()[0]
    scale_rows, baseline, have = [], None, 1
    for clinics in SCALES:
        if clinics > have:
            print(
                f"copying the clinic to reach {clinics} clinics "
                f"(+{(clinics - have) * per_clinic:,} appointments; 1,000 takes minutes)...",
                flush=True,
            )
        copy_s = _clone(clinic.id, clinics - have, have) if clinics > have else 0.0
        have = clinics
        times, _ = _search_in_process(app, clinic, SEARCH_RUNS)
        p50, p95 = _pct(times, 50), _pct(times, 95)
        baseline = baseline or p50
        with psycopg.connect(_owner_dsn()) as conn:
            total = conn.execute("SELECT count(*) FROM appointments").fetchone()[0]
        scale_rows.append(
            [
                clinics,
                f"{total:,}",
                f"{p50 * 1000:.1f}",
                f"{p95 * 1000:.1f}",
                f"{p50 / baseline:.2f}",
                f"{copy_s:.0f}",
            ]
        )
    env.print_table(
        "Slot search for one clinic vs clinics in the database (in-process, ms)",
        ["clinics", "appointments in DB", "p50", "p95", "p50 ratio to 10", "setup s"],
        scale_rows,
    )
