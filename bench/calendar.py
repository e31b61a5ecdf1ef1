"""Calendar benchmark: the console's week view, and the cost of live updates.

The clinic is the scheduling benchmark's (``bench.scheduling.Clinic``: 10 practitioners at
2 locations, Monday–Friday 08:00–18:00, ~1,500 appointments over 4 weeks, about 75% full).
A receptionist signs in to the console through the pages (password + TOTP).

Measured:

1. the week view (``/console/calendar/week``, 10 practitioners x 7 days, ~270 visits) and
   the day view, full request through the Flask app in-process: server time p50/p95
   (target: week view p95 under 50 ms), and the SQL statements of one week view. The
   first render after a change (laid-out calendars forgotten before each request) and a
   render while the schedule is unchanged (the layout reused, as when several people keep
   the same week open) are timed separately;
2. the live-update poll's 304 path (``/console/calendar/changes`` with ``If-None-Match``),
   in-process p50/p95;
3. the same pages over HTTP against gunicorn (4 workers x 4 threads), one client,
   sequential: what a user's browser waits for;
4. 50 open calendars polling over HTTP: ``wrk -c50`` against gunicorn (4 workers x 4
   threads) with the session cookie and the current ETag, as fast as the server answers:
   the 304 path's capacity (req/s, p50/p99). An open calendar polls every
   ``POLL_SECONDS`` (3 s), so 50 calendars need 50/3 ≈ 17 req/s: the table prints that
   share of the measured capacity. No worker thread is held between polls.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
import subprocess
import time
import uuid

import psycopg
import pyotp

from bench import env
from bench.http import Server, count_statements, ensure_wrk
from bench.scheduling import Clinic, _ms, _owner_dsn

RUNS = 40
OPEN_CALENDARS = 50
WRK_SECONDS = 8


def _add_receptionist(app, clinic: Clinic) -> tuple[str, str, str]:
    """A receptionist with an enrolled TOTP secret: (email, password, secret)."""
    from saas.db import tenant_session
    from saas.models import Tenant, User, utcnow
    from saas.security.auth import new_totp_secret
    from saas.security.passwords import hash_password

    email, password = f"desk-{uuid.uuid4().hex[:6]}@example.org", "correct horse 42"
    with app.app_context(), tenant_session(clinic.id) as sess:
        tenant = sess.get(Tenant, clinic.id)
        user = User(
            id=uuid.uuid4(),
            tenant_id=clinic.id,
            email=email,
            name="Rita Reception",
            role="receptionist",
            password_hash=hash_password(password),
        )
        sess.add(user)
        sess.flush()
        secret = new_totp_secret(sess, tenant, user)
        user.mfa_enrolled_at = utcnow()
    return email, password, secret


def _load() -> str:
    import os

    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _csrf(html: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()


def _console_client(app, clinic: Clinic):
    """A test client signed in to the console as a receptionist."""
    email, password, secret = _add_receptionist(app, clinic)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.2.2.2"
    base = f"http://{clinic.host}"
    page = client.get("/login", base_url=base)
    client.post(
        "/login",
        base_url=base,
        data={"email": email, "password": password, "csrf_token": _csrf(page.data)},
    )
    page = client.get("/login/mfa", base_url=base)
    done = client.post(
        "/login/mfa",
        base_url=base,
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": _csrf(page.data)},
    )
    assert done.status_code == 302, done.status_code
    return client


def _timed(
    client, path: str, host: str, runs: int, *, headers=None, status=200, cold=False
) -> list[float]:
    """Server times of ``runs`` GETs; ``cold`` forgets the laid-out calendars before each."""
    from admin.clinic.appointments.calendar_views import clear_layouts

    times = []
    for _ in range(runs + 3):
        if cold:
            clear_layouts()
        t0 = time.perf_counter()
        resp = client.get(path, base_url=f"http://{host}", headers=headers or {})
        assert resp.status_code == status, (path, resp.status_code)
        times.append(time.perf_counter() - t0)
    return times[3:]


def _http_times(url: str, host: str, cookie: str, runs: int) -> list[float]:
    """Sequential GETs of one page over HTTP with the console session (client-side time)."""
    import requests

    session = requests.Session()
    headers = {"Host": host, "Cookie": f"similia_session={cookie}", "X-Forwarded-For": "10.4.4.4"}
    times = []
    for _ in range(runs + 5):
        t0 = time.perf_counter()
        resp = session.get(url, headers=headers, timeout=30, allow_redirects=False)
        assert resp.status_code == 200, resp.status_code
        times.append(time.perf_counter() - t0)
    return times[5:]


def _wrk_polls(wrk: str, url: str, host: str, cookie: str, etag: str) -> dict:
    out = subprocess.run(
        [
            wrk, "-t2", f"-c{OPEN_CALENDARS}", f"-d{WRK_SECONDS}s", "--latency",
            "-H", f"Host: {host}", "-H", f"Cookie: similia_session={cookie}",
            "-H", f"If-None-Match: {etag}", "-H", "X-Forwarded-For: 10.3.3.3", url,
        ],
        capture_output=True, text=True, timeout=WRK_SECONDS + 60, check=True,
    ).stdout  # fmt: skip
    from bench.http import _ms as wrk_ms

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "bad": int(bad.group(1)) if bad else 0}


def main() -> None:
    """Build the clinic, time the calendar pages and the live-update poll, print the tables."""
    from admin.clinic.appointments.calendar_views import POLL_SECONDS

    app = env.make_app()
    logging.getLogger("similia.access").setLevel(logging.WARNING)
    clinic = Clinic(app)
    clinic.configure()
    filled = clinic.fill()
    with psycopg.connect(_owner_dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would soon after a bulk load
    client = _console_client(app, clinic)
    today = dt.datetime.now(clinic.zone).date()
    monday = today + dt.timedelta(days=7 - today.weekday())  # next week: fully booked days
    week = f"/console/calendar/week?date={monday.isoformat()}"
    day = f"/console/calendar/day?date={monday.isoformat()}"
    page = client.get(week, base_url=f"http://{clinic.host}").get_data(as_text=True)
    visits = page.count('class="appt st-')
    # warmed up (compiled statements, templates, caches): freeze the heap, as gunicorn's
    # workers do after loading the app, so the cyclic collector's full passes over the
    # benchmark's own objects are not counted as the page's time
    for _ in range(5):
        client.get(week, base_url=f"http://{clinic.host}")
    gc.collect()
    gc.freeze()
    week_times = _timed(client, week, clinic.host, RUNS, cold=True)
    week_again = _timed(client, week, clinic.host, RUNS)
    day_times = _timed(client, day, clinic.host, RUNS, cold=True)
    statements = count_statements(app, lambda: client.get(week, base_url=f"http://{clinic.host}"))
    first = client.get("/console/calendar/changes", base_url=f"http://{clinic.host}")
    etag = first.headers["ETag"]
    poll_times = _timed(
        client,
        "/console/calendar/changes",
        clinic.host,
        RUNS * 5,
        headers={"If-None-Match": etag},
        status=304,
    )
    rows = [
        [
            f"week view (10 practitioners x 7 days, {visits} visits), first render",
            *_ms(week_times),
            "< 50",
        ],
        ["week view again, schedule unchanged (layout reused)", *_ms(week_again), "< 50"],
        ["day view (10 practitioners), first render", *_ms(day_times), ""],
        ["live-update poll, 304 path", *_ms(poll_times), ""],
    ]
    print(f"\n(load average while measuring: {_load()}; the machine's 2 cores are shared)")
    env.print_table(
        f"Console calendar, in-process through the Flask app ({filled} appointments in 4 weeks; "
        f"week view: {statements} SQL statements)",
        ["request", "p50 ms", "p95 ms", "target p95 ms"],
        rows,
    )
    wrk = ensure_wrk()
    if wrk is None:
        print("\n(live-update HTTP load skipped: install wrk with `apt-get install -y wrk`)")
        return
    cookie = client.get_cookie("similia_session", domain=clinic.host) or client.get_cookie(
        "similia_session"
    )
    with Server("saas.wsgi:app", "/healthz", {"SAAS_PROXY_HOPS": "1"}) as server:
        http_week = _http_times(server.url + week, clinic.host, cookie.value, RUNS)
        http_day = _http_times(server.url + day, clinic.host, cookie.value, RUNS)
        r = _wrk_polls(
            wrk, server.url + "/console/calendar/changes", clinic.host, cookie.value, etag
        )
    env.print_table(
        "Console calendar over HTTP (gunicorn 4 workers x 4 threads, one client, sequential)",
        ["request", "p50 ms", "p95 ms", "target p95 ms"],
        [
            [f"week view (10 practitioners x 7 days, {visits} visits)", *_ms(http_week), "< 50"],
            ["day view (10 practitioners)", *_ms(http_day), ""],
        ],
    )
    need = OPEN_CALENDARS / POLL_SECONDS
    env.print_table(
        f"Live updates: {OPEN_CALENDARS} open calendars polling with If-None-Match "
        f"(wrk -c{OPEN_CALENDARS} -d{WRK_SECONDS}s, gunicorn 4 workers x 4 threads)",
        ["measure", "value"],
        [
            ["304 answers per second (capacity)", f"{r['rps']:.0f}"],
            ["p50 / p99 latency under that load, ms", f"{r['p50']:.1f} / {r['p99']:.1f}"],
            ["answers other than 2xx/3xx", str(r["bad"])],
            [f"needed: {OPEN_CALENDARS} calendars / {POLL_SECONDS} s", f"{need:.1f} req/s"],
            ["share of the server's 304 capacity", f"{need / r['rps'] * 100:.1f}%"],
        ],
    )
