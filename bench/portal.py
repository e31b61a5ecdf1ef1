"""Portal pages: server time of the booking month view and the day's times, and page sizes.

The benchmark clinic of :mod:`bench.scheduling` (10 practitioners, 4 weeks ~75% booked).
Each page is requested through the Flask app in-process (full request: clinic resolution,
templates, the slot engine), "any available" practitioner, as a patient would. Measured
twice: **cold**, with the free-times cache emptied before every request (what the first
patient after a booking or a practice change pays), and **warm** (the cache serving). The
issue's target is a p95 under 50 ms for both pages of a 10-practitioner clinic.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from . import env
from .scheduling import Clinic, _pct

RUNS = 40


def _time(client, url: str, host: str, *, cold: bool) -> tuple[list[float], int]:
    from saas.scheduling import catalogue

    times, size = [], 0
    for n in range(RUNS + 3):
        if cold:
            catalogue.FREE_TIMES.clear()
        t0 = time.perf_counter()
        resp = client.get(url, base_url=f"http://{host}")
        elapsed = time.perf_counter() - t0
        assert resp.status_code == 200, (url, resp.status_code)
        size = len(resp.data)
        if n >= 3:
            times.append(elapsed)
    return times, size


def main() -> None:
    """Print the portal pages' server times."""
    app = env.make_app()
    logging.getLogger("similia.access").setLevel(logging.WARNING)
    clinic = Clinic(app)
    clinic.configure()
    clinic.fill()
    client = app.test_client()
    day = dt.datetime.now(clinic.zone).date() + dt.timedelta(days=8)
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    today = dt.datetime.now(clinic.zone).date()
    following = (today.replace(day=1) + dt.timedelta(days=32)).strftime("%Y-%m")
    pages = [
        ("front page", "/"),
        ("booking: month view, this month", f"/book?service_id={clinic.service}&any=1"),
        (
            "booking: month view, next month",
            f"/book?service_id={clinic.service}&any=1&month={following}",
        ),
        ("booking: the day's times", f"/book?service_id={clinic.service}&any=1&date={day}"),
    ]
    rows = []
    for name, url in pages:
        for cold in (True, False):
            times, size = _time(client, url, clinic.host, cold=cold)
            rows.append(
                [
                    name,
                    "cold" if cold else "warm",
                    f"{_pct(times, 50) * 1000:.1f}",
                    f"{_pct(times, 95) * 1000:.1f}",
                    f"{size / 1024:.1f}",
                ]
            )
    env.print_table(
        "Portal pages, server time in-process (10 practitioners, 4 weeks ~75% booked)",
        ["page", "free-times cache", "p50 ms", "p95 ms", "HTML KB"],
        rows,
    )
