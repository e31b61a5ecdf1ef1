"""The follow-up adherence report on real prescriptions, and every report over a seeded year.

Prescriptions are written by the records services (sealed details, follow-up windows from the
visit date), appointments as the database owner (past visits cannot be booked through the
verbs). The year is the reports benchmark's own seed (``bench.reports._YEAR``), so the
benchmark's data keeps rendering.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.factories import PatientFactory, PracticeFactory, StaffFactory

from .console import Console
from .test_reports import _at, _csv, seed

MARCH = "date_from=2026-03-01&date_to=2026-03-31"


@pytest.fixture
def practice(app):
    """A Berlin clinic open Mondays to Fridays 09-17."""
    return PracticeFactory(windows=[(d, "09:00", "17:00") for d in range(1, 6)])


def _prescribe(app, practice, patient, visit_date: str, days: tuple[int, int], *, void=False):
    """A visit on ``visit_date`` with a prescription whose follow-up window is ``days`` after it."""
    from saas.db import tenant_session
    from saas.models import Patient, Tenant, User
    from saas.records import services

    member = StaffFactory(clinic=practice.clinic, role="practitioner")
    with app.app_context(), tenant_session(practice.clinic.id) as sess:
        tenant = sess.get(Tenant, practice.clinic.id)
        actor = sess.get(User, (tenant.id, member.id))
        visit = services.record_visit_note(
            sess,
            tenant,
            actor,
            sess.get(Patient, (tenant.id, patient.id)),
            kind="follow_up",
            visit_date=dt.date.fromisoformat(visit_date),
            sections={"plan": "Review"},
        )
        rx = services.add_prescription(
            sess,
            tenant,
            actor,
            visit,
            {
                "remedy": "Sulphur",
                "potency": "30C",
                "follow_up_from_days": days[0],
                "follow_up_to_days": days[1],
            },
        )
        if void:
            services.void_prescription(sess, tenant, actor, rx, "Wrong patient")
        return rx.follow_up_from, rx.follow_up_to


def test_follow_up_adherence_counts_windows_opening_in_the_period(app, practice, owner_dsn):
    """Booked (kept, confirmed or missed) within the window or not; void and later ones out."""
    p = {k: PatientFactory(clinic=practice.clinic) for k in "ABCDEFGH"}
    # A: window 6-20 March, seen on 12 March -> booked
    assert _prescribe(app, practice, p["A"], "2026-02-20", (14, 28)) == (
        dt.date(2026, 3, 6),
        dt.date(2026, 3, 20),
    )
    seed(owner_dsn, practice, p["A"], "completed", _at("2026-03-12", "10:00"))
    # B: window 7-17 March, booked only on 25 March -> not booked
    _prescribe(app, practice, p["B"], "2026-02-25", (10, 20))
    seed(owner_dsn, practice, p["B"], "completed", _at("2026-03-25", "10:00"))
    # C: window 8-15 March, the visit in it was cancelled -> not booked
    _prescribe(app, practice, p["C"], "2026-03-01", (7, 14))
    seed(
        owner_dsn,
        practice,
        p["C"],
        "cancelled",
        _at("2026-03-10", "10:00"),
        cancelled_at=_at("2026-03-09", "10:00"),
    )
    # D: window 20 March - 10 April, a confirmed visit on 2 April -> booked (window opened in March)
    _prescribe(app, practice, p["D"], "2026-03-06", (14, 35))
    seed(owner_dsn, practice, p["D"], "confirmed", _at("2026-04-02", "10:00"))
    # E: void -> not counted at all, though its window opens in March and nothing is booked
    _prescribe(app, practice, p["E"], "2026-03-01", (5, 10), void=True)
    # F: window opens in April -> not counted in March
    _prescribe(app, practice, p["F"], "2026-03-20", (15, 30))
    # G: window 2-9 March, visit at 23:30 Berlin on 9 March (22:30 UTC) -> booked (last day)
    _prescribe(app, practice, p["G"], "2026-02-23", (7, 14))
    seed(owner_dsn, practice, p["G"], "completed", _at("2026-03-09", "23:30"), minutes=20)
    # H: window 10-12 March, a no-show on 11 March -> booked (the patient had a visit)
    _prescribe(app, practice, p["H"], "2026-03-03", (7, 9))
    seed(owner_dsn, practice, p["H"], "no_show", _at("2026-03-11", "10:00"))
    # another clinic's prescription with a March window is never counted
    other = PracticeFactory()
    _prescribe(app, other, PatientFactory(clinic=other.clinic), "2026-03-01", (3, 9))

    owner = Console(app, practice.clinic)
    assert _csv(owner, "follow-ups") == [
        ["Follow-up", "Prescriptions"],
        ["Booked within the window", "4"],
        ["Not booked within the window", "2"],
        ["Adherence", "66.7%"],
    ]
    page = owner.text(f"/console/reports/follow-ups?{MARCH}")
    assert "66.7%" in page and "<svg" in page
    # nothing clinical leaves through the report
    assert "Sulphur" not in page and "Sulphur" not in owner.get(
        f"/console/reports/follow-ups.csv?{MARCH}"
    ).get_data(as_text=True)
    # April: only F's window opens then, and nothing is booked for it
    assert _csv(owner, "follow-ups", "date_from=2026-04-01&date_to=2026-04-30")[1:] == [
        ["Booked within the window", "0"],
        ["Not booked within the window", "1"],
        ["Adherence", "0.0%"],
    ]


def test_every_report_renders_for_a_seeded_year(app, practice, owner_dsn):
    """The benchmark's year of visits: each page has its chart, each CSV matches the rows."""
    from admin.clinic.reports.views import REPORTS
    from bench.reports import _YEAR

    for _ in range(20):
        PatientFactory(clinic=practice.clinic)
    zone = ZoneInfo(practice.clinic.timezone)
    with psycopg.connect(owner_dsn) as conn:
        inserted = conn.execute(
            _YEAR,
            {
                "tid": practice.clinic.id,
                "tz": practice.clinic.timezone,
                "loc": practice.location_id,
                "svc": practice.service_id,
            },
        ).rowcount
    assert inserted > 1000  # ~75% of a year of weekday hours
    today = dt.datetime.now(zone).date()
    first = today - dt.timedelta(days=364)
    year = f"date_from={first}&date_to={today}"
    owner = Console(app, practice.clinic)
    for slug in REPORTS:
        page = owner.text(f"/console/reports/{slug}?{year}")
        assert 'role="img"' in page and "<svg" in page, slug
        rows = _csv(owner, slug, year)
        assert len(rows) >= 2, slug

    with psycopg.connect(owner_dsn) as conn:
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM appointments WHERE tenant_id = %s "
                "AND (start_at AT TIME ZONE %s)::date BETWEEN %s AND %s GROUP BY status",
                (practice.clinic.id, practice.clinic.timezone, first, today),
            ).fetchall()
        )
    states = dict(map(tuple, _csv(owner, "appointments", year)[1:]))
    assert states["Total"] == str(sum(counts.values()))
    assert states["No-show"] == str(counts["no_show"])
    no_shows = _csv(owner, "no-shows", year)
    assert no_shows[-1][:3] == [
        "All",
        str(counts["no_show"]),
        str(counts["no_show"] + counts["completed"]),
    ]
    assert len(no_shows) >= 13  # a row per month touched, plus the total
    cancelled = sum(int(n) for _, n in _csv(owner, "cancellations", year)[1:])
    assert cancelled == counts["cancelled"]
