"""The month view's free days agree with the day-by-day answer, across a DST change.

The month view asks the slot engine once for the whole month (``portal.times.month_days``)
and counts the free times per local day; each day's page asks for that day alone. On the
month clocks go forward in Berlin (28 March 2027: 02:00-03:00 does not exist), with hours
right across that gap, both must give the same days and the same counts.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from tests.factories import PracticeFactory
from tests.portal.conftest import get, portal_client

DAY_LINK = re.compile(r'href="[^"]*date=(\d{4}-\d\d-\d\d)[^"]*" aria-label="[^"]*: (\d+) free time')
TIME = re.compile(r'<time datetime="([^"]+)"')


def _dst_month(today: dt.date) -> dt.date:
    """The next March (Europe/Berlin springs forward on its last Sunday)."""
    year = today.year if today.month < 3 else today.year + 1
    return dt.date(year, 3, 1)


def test_month_counts_equal_the_days_pages_across_spring_forward(app):
    windows = [(d, "01:00", "05:00") for d in range(1, 8)] + [
        (d, "09:00", "12:00") for d in range(1, 8)
    ]
    practice = PracticeFactory(windows=windows)
    patient_c = portal_client(app, practice.clinic)
    month = _dst_month(dt.date.today())
    base = f"/book?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}"
    page = get(patient_c, practice.clinic, f"{base}&month={month:%Y-%m}")
    assert page.status_code == 200
    by_month = {
        dt.date.fromisoformat(d): int(n) for d, n in DAY_LINK.findall(page.get_data(as_text=True))
    }
    by_day = {}
    for n in range(1, calendar.monthrange(month.year, month.month)[1] + 1):
        day = month.replace(day=n)
        resp = get(patient_c, practice.clinic, f"{base}&date={day.isoformat()}")
        assert resp.status_code == 200
        if times := TIME.findall(resp.get_data(as_text=True)):
            by_day[day] = len(times)
    assert by_month == by_day
    spring = max(  # the last Sunday of March
        month.replace(day=n) for n in range(25, 32) if month.replace(day=n).isoweekday() == 7
    )
    # the night window loses its missing hour that day, and only that day
    assert by_month[spring] < by_month[spring - dt.timedelta(days=7)]
    assert by_month[spring + dt.timedelta(days=1)] == by_month[spring - dt.timedelta(days=6)]
