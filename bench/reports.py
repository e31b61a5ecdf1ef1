"""Reports benchmark: every report page over a year of a 10-practitioner clinic.

The clinic is the scheduling benchmark's (``bench.scheduling.Clinic``: 10 practitioners at
2 locations, Monday–Friday 08:00–18:00) with its next 4 weeks filled, plus a year of past
visits written in bulk as the database owner (~75% of the hourly grid: completed, no-shows
and cancellations with varied notice). An admin signs in through the pages.

Measured: each report page for the last 12 months, full request through the Flask app
in-process, p50/p95 server time (target: p95 under 300 ms).
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg

from bench import env
from bench.calendar import _console_client, _timed
from bench.scheduling import Clinic, _ms, _owner_dsn

RUNS = 20
TARGET_MS = 300

_YEAR = """
WITH pats AS (SELECT array_agg(id) AS a FROM patients WHERE tenant_id = %(tid)s),
slots AS (
  SELECT p.id AS prac, ((d::date + make_interval(hours => h)) AT TIME ZONE %(tz)s) AS ts,
         random() AS r
  FROM practitioners p,
       generate_series(now()::date - 365, now()::date - 1, interval '1 day') AS d,
       generate_series(8, 17) AS h
  WHERE p.tenant_id = %(tid)s AND extract(isodow FROM d) <= 5
)
INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, location_id, service_id,
  status, start_at, end_at, buffer_after_minutes, occupied, price_minor, currency, booked_by,
  cancelled_at, cancelled_by)
SELECT %(tid)s, gen_random_uuid(), pats.a[1 + floor(random() * array_length(pats.a, 1))::int],
  prac, %(loc)s, %(svc)s,
  CASE WHEN r < 0.60 THEN 'completed' WHEN r < 0.66 THEN 'no_show' ELSE 'cancelled' END,
  ts, ts + interval '45 minutes', 15, tstzrange(ts, ts + interval '60 minutes'), 7000, 'EUR',
  'staff',
  CASE WHEN r >= 0.66 THEN ts - random() * interval '6 days' END,
  CASE WHEN r >= 0.66 THEN 'patient' END
FROM slots, pats WHERE r < 0.75
"""


def _add_admin(app, clinic: Clinic):
    """The calendar benchmark's signed-in client, promoted to admin (reports need it)."""
    client = _console_client(app, clinic)
    with psycopg.connect(_owner_dsn()) as conn:
        conn.execute(
            "UPDATE users SET role = 'admin' WHERE tenant_id = %s AND role = 'receptionist'",
            (clinic.id,),
        )
    return client


def main() -> None:
    """Build the clinic and its year, time each report page, print the table."""
    from admin.clinic.reports.views import REPORTS

    app = env.make_app()
    logging.getLogger("similia.access").setLevel(logging.WARNING)
    clinic = Clinic(app)
    clinic.configure()
    clinic.fill()
    with psycopg.connect(_owner_dsn()) as conn:
        past = conn.execute(
            _YEAR,
            {"tid": clinic.id, "tz": str(clinic.zone), "loc": clinic.locations[0],
             "svc": clinic.service},
        ).rowcount  # fmt: skip
        conn.execute("ANALYZE appointments")
    client = _add_admin(app, clinic)
    today = dt.datetime.now(clinic.zone).date()
    year = f"date_from={today - dt.timedelta(days=364)}&date_to={today}"
    rows = []
    for slug, report in REPORTS.items():
        times = _timed(client, f"/console/reports/{slug}?{year}", clinic.host, RUNS)
        rows.append([report.title, *_ms(times), f"< {TARGET_MS}"])
    env.print_table(
        f"Reports, in-process through the Flask app (the last 12 months; {past} past "
        "visits over a year, 10 practitioners)",
        ["report page", "p50 ms", "p95 ms", "target p95 ms"],
        rows,
    )
