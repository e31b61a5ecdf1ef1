"""Report pages: seeded figures asserted, CSVs, the period picker, roles, other clinics.

Another clinic's rows are never counted.

Past appointments cannot be booked through the verbs, so the history is written as the
database owner (the same rows the verbs would leave behind).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.factories import PatientFactory, PracticeFactory

from .console import Console

BERLIN = ZoneInfo("Europe/Berlin")
MARCH = "date_from=2026-03-01&date_to=2026-03-31"


def _at(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=BERLIN)


def seed(dsn, practice, patient, status, start, *, cancelled_at=None, minutes=60):
    """One appointment row as the booking verbs leave it."""
    end = start + dt.timedelta(minutes=minutes)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            """
            INSERT INTO appointments (tenant_id, id, patient_id, practitioner_id, location_id,
              service_id, status, start_at, end_at, occupied, price_minor, currency, booked_by,
              cancelled_at, cancelled_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, tstzrange(%s, %s), 6000, 'EUR', 'staff',
              %s, %s)
            """,
            (
                practice.clinic.id,
                uuid.uuid4(),
                patient.id,
                practice.practitioner_id,
                practice.location_id,
                practice.service_id,
                status,
                start,
                end,
                start,
                end,
                cancelled_at,
                "patient" if cancelled_at else None,
            ),
        )


@pytest.fixture
def seeded(app, owner_dsn):
    """A Berlin clinic open Mondays 09-17 with a closure on 9 March 2026 and a March history."""
    practice = PracticeFactory(windows=[(1, "09:00", "17:00")])
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "INSERT INTO closures (tenant_id, id, location_id, name, start_date, end_date)"
            " VALUES (%s, %s, NULL, 'Spring break', '2026-03-09', '2026-03-09')",
            (practice.clinic.id, uuid.uuid4()),
        )
    a, b, c, d = (PatientFactory(clinic=practice.clinic) for _ in range(4))
    seed(owner_dsn, practice, a, "completed", _at("2026-02-10", "10:00"))  # a: seen before
    seed(owner_dsn, practice, a, "completed", _at("2026-03-02", "10:00"))
    seed(owner_dsn, practice, b, "no_show", _at("2026-03-03", "10:00"))
    seed(owner_dsn, practice, b, "completed", _at("2026-04-05", "10:00"))  # after March
    seed(
        owner_dsn,
        practice,
        c,
        "cancelled",
        _at("2026-03-16", "10:00"),
        cancelled_at=_at("2026-03-16", "08:00"),
    )  # 2 hours' notice
    seed(
        owner_dsn,
        practice,
        c,
        "cancelled",
        _at("2026-03-20", "10:00"),
        cancelled_at=_at("2026-03-18", "10:00"),
    )  # 2 days
    seed(
        owner_dsn,
        practice,
        c,
        "cancelled",
        _at("2026-03-25", "10:00"),
        cancelled_at=_at("2026-03-10", "10:00"),
    )  # 15 days
    seed(owner_dsn, practice, c, "confirmed", _at("2026-03-31", "23:00"))  # 21:00 UTC: March here
    seed(owner_dsn, practice, d, "completed", _at("2026-03-01", "00:30"))  # 28 Feb in UTC
    return practice


def _csv(console, slug, query=MARCH) -> list[list[str]]:
    r = console.get(f"/console/reports/{slug}.csv?{query}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(r.get_data(as_text=True))))


def test_figures_for_a_seeded_month(app, seeded, owner_dsn):
    """Each report's figures, counted in the clinic's zone, in the page and its CSV."""
    other = PracticeFactory(windows=[(1, "09:00", "17:00")])  # another clinic's March
    stranger = PatientFactory(clinic=other.clinic)
    seed(owner_dsn, other, stranger, "no_show", _at("2026-03-02", "10:00"))
    seed(
        owner_dsn,
        other,
        stranger,
        "cancelled",
        _at("2026-03-04", "10:00"),
        cancelled_at=_at("2026-03-04", "09:00"),
    )
    owner = Console(app, seeded.clinic)

    states = dict(map(tuple, _csv(owner, "appointments")[1:]))
    assert states["Completed"] == "2" and states["No-show"] == "1"
    assert states["Cancelled"] == "3" and states["Confirmed"] == "1"
    assert states["Total"] == "7"

    assert _csv(owner, "no-shows") == [
        ["Month", "No-shows", "Visits with an outcome", "No-show rate"],
        ["2026-03", "1", "3", "33.3%"],
        ["All", "1", "3", "33.3%"],
    ]
    assert _csv(owner, "cancellations")[1:] == [
        ["Less than 24 hours", "1"],
        ["1 to 3 days", "1"],
        ["More than 3 days", "1"],
    ]
    assert _csv(owner, "patients")[1:] == [["New", "3"], ["Returning", "1"]]
    # 5 Mondays less the closure = 4 x 480 minutes; 4 booked hours (no-show included)
    assert _csv(owner, "utilisation")[1:] == [["Dr. Anna Weber", "240", "1920", "12.5%"]]
    assert _csv(owner, "follow-ups")[1:] == [
        ["Booked within the window", "0"],
        ["Not booked within the window", "0"],
        ["Adherence", "0.0%"],
    ]
    assert _csv(owner, "revenue")[1:] == [["Follow-up consultation", "0.00", "EUR"]]

    page = owner.text(f"/console/reports/no-shows?{MARCH}")
    assert "<svg" in page and '<title id="chart-no-shows-title">' in page and "<desc" in page
    assert "<caption>No-show rate by month, 1 Mar 2026 to 31 Mar 2026</caption>" in page
    assert "33.3%" in page
    # February: only a's earlier visit
    assert _csv(owner, "patients", "date_from=2026-02-01&date_to=2026-02-28")[1:] == [
        ["New", "1"],
        ["Returning", "0"],
    ]


def test_every_report_page_renders_with_chart_and_csv_link(app, seeded):
    owner = Console(app, seeded.clinic)
    index = owner.text("/console/reports/")
    for slug in (
        "appointments",
        "no-shows",
        "utilisation",
        "patients",
        "cancellations",
        "follow-ups",
        "revenue",
    ):
        assert f"/console/reports/{slug}" in index
        page = owner.text(f"/console/reports/{slug}")  # default: the last 30 days
        assert 'role="img"' in page and "Download CSV" in page
        assert f"/console/reports/{slug}.csv?date_from=" in page
    assert owner.get("/console/reports/nothing").status_code == 404


def test_a_bad_period_is_an_inline_error_that_keeps_the_input(app, seeded):
    owner = Console(app, seeded.clinic)
    r = owner.get("/console/reports/appointments?date_from=2026-03-31&date_to=2026-03-01")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "There is a problem" in page and "on or after the start date" in page
    assert 'value="2026-03-31"' in page and 'aria-invalid="true"' in page
    r = owner.get("/console/reports/appointments?date_from=yesterday")
    assert r.status_code == 422 and "Enter a real date" in r.get_data(as_text=True)
    assert 'value="yesterday"' in r.get_data(as_text=True)
    assert (
        owner.get(
            "/console/reports/appointments?date_from=2020-01-01&date_to=2026-01-01"
        ).status_code
        == 422
    )
    assert owner.get("/console/reports/appointments.csv?date_from=x").status_code == 422


@pytest.mark.parametrize(
    "role,allowed",
    [
        ("admin", True),
        ("practitioner", False),
        ("receptionist", False),
    ],
)
def test_roles(app, seeded, role, allowed):
    """Owners and admins see reports; practitioners and receptionists get 403."""
    console = Console(app, seeded.clinic, role)
    for path in (
        "/console/reports/",
        f"/console/reports/utilisation?{MARCH}",
        f"/console/reports/utilisation.csv?{MARCH}",
    ):
        assert console.get(path).status_code == (200 if allowed else 403), path
    assert ("/console/reports/" in console.text("/console/")) is allowed
