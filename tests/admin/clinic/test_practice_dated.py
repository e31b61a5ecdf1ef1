"""Weekly hours for a limited period (summer hours) on the weekly hours page.

Made and removed through the same availability service as the API; refusals (missing or
inverted dates, an overlap with the open-ended grid) come back next to their fields.
"""

from __future__ import annotations

import datetime as dt

import psycopg

from tests.factories import ClinicFactory

from .console import Console
from .test_practice_pages import _set_up

NEXT_YEAR = dt.date.today().year + 1
SUMMER = {"valid_from": f"{NEXT_YEAR}-06-01", "valid_until": f"{NEXT_YEAR}-08-31"}


def _rows(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _form(loc: str, prac: str, **over) -> dict:
    return {
        "practitioner": prac,
        "location": loc,
        "weekday": "2",
        "start_time": "14:00",
        "end_time": "18:00",
        **SUMMER,
        **over,
    }


def test_summer_hours_are_added_listed_and_removed(app, owner_dsn):
    """A dated window is saved with its dates and audited, listed, then removed."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    loc, prac = _set_up(console)
    page = f"/console/practice/availability?practitioner={prac}&location={loc}"
    r = console.post("/console/practice/availability/dated", _form(loc, prac), form_page=page)
    assert r.status_code == 302
    rows = _rows(
        owner_dsn,
        "SELECT id, weekday, start_time::text, end_time::text, valid_from::text, "
        "valid_until::text FROM availability_rules WHERE tenant_id = %s",
        clinic.id,
    )
    assert [row[1:] for row in rows] == [
        (2, "14:00:00", "18:00:00", SUMMER["valid_from"], SUMMER["valid_until"])
    ]
    html = console.text(page)
    assert f"from {SUMMER['valid_from']} until {SUMMER['valid_until']}" in html
    assert 'id="d2_0_start" name="d2_0_start" value=""' in html  # not in the open-ended grid
    (rule_id,) = rows[0][:1]
    r = console.post(f"/console/practice/availability/dated/{rule_id}/delete", form_page=page)
    assert r.status_code == 302
    assert _rows(owner_dsn, "SELECT 1 FROM availability_rules WHERE id = %s", rule_id) == []
    actions = _rows(
        owner_dsn,
        "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE "
        "'practice.availability%%' ORDER BY seq",
        clinic.id,
    )
    assert [a for (a,) in actions] == [
        "practice.availability_created",
        "practice.availability_deleted",
    ]


def test_open_ended_until_changed_hours_have_no_last_day(app, owner_dsn):
    """Leaving the last day empty keeps the hours from the first day on."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    loc, prac = _set_up(console)
    r = console.post("/console/practice/availability/dated", _form(loc, prac, valid_until=""))
    assert r.status_code == 302
    assert _rows(
        owner_dsn,
        "SELECT valid_from::text, valid_until FROM availability_rules WHERE tenant_id = %s",
        clinic.id,
    ) == [(SUMMER["valid_from"], None)]


def test_bad_input_is_shown_next_to_the_field_and_kept(app, owner_dsn):
    """Missing time, inverted dates and an overlap: 422, summary, inline error, input kept."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    loc, prac = _set_up(console)
    r = console.post("/console/practice/availability/dated", _form(loc, prac, start_time=""))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'href="#start_time"' in html and "Enter a start time" in html
    assert f'value="{SUMMER["valid_from"]}"' in html and 'value="18:00"' in html
    r = console.post(
        "/console/practice/availability/dated",
        _form(loc, prac, valid_from=f"{NEXT_YEAR}-09-01", valid_until=f"{NEXT_YEAR}-08-01"),
    )
    assert r.status_code == 422
    assert "The last day cannot be before the first day." in r.get_data(as_text=True)
    grid = {"practitioner": prac, "location": loc, "d2_0_start": "09:00", "d2_0_end": "17:00"}
    assert console.post("/console/practice/availability", grid).status_code == 302
    r = console.post("/console/practice/availability/dated", _form(loc, prac))
    html = r.get_data(as_text=True)
    assert r.status_code == 409 or r.status_code == 422
    assert 'id="start_time-error"' in html and "Overlaps Tuesday 09:00–17:00" in html
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM availability_rules WHERE tenant_id = %s AND valid_from IS NOT NULL",
        clinic.id,
    ) == [(0,)]


def test_only_practice_managers_add_or_remove_dated_hours(app, owner_dsn):
    """Receptionists and practitioners are refused; nothing is saved or removed."""
    clinic = ClinicFactory()
    owner = Console(app, clinic)
    loc, prac = _set_up(owner)
    assert owner.post("/console/practice/availability/dated", _form(loc, prac)).status_code == 302
    (rule_id,) = _rows(
        owner_dsn, "SELECT id FROM availability_rules WHERE tenant_id = %s", clinic.id
    )[0]
    for role in ("receptionist", "practitioner"):
        other = Console(app, clinic, role)
        add = other.post("/console/practice/availability/dated", _form(loc, prac, weekday="3"))
        gone = other.post(f"/console/practice/availability/dated/{rule_id}/delete")
        assert (add.status_code, gone.status_code) == (403, 403)
    assert _rows(
        owner_dsn, "SELECT count(*) FROM availability_rules WHERE tenant_id = %s", clinic.id
    ) == [(1,)]


def test_another_clinics_practitioner_location_and_window_are_404(app, owner_dsn):
    """Ids of another clinic are unknown here: 404, and their window stays."""
    mine, theirs = ClinicFactory(), ClinicFactory()
    me, them = Console(app, mine), Console(app, theirs)
    my_loc, my_prac = _set_up(me)
    their_loc, their_prac = _set_up(them)
    assert (
        them.post("/console/practice/availability/dated", _form(their_loc, their_prac)).status_code
        == 302
    )
    (their_rule,) = _rows(
        owner_dsn, "SELECT id FROM availability_rules WHERE tenant_id = %s", theirs.id
    )[0]
    for form in (_form(my_loc, their_prac), _form(their_loc, my_prac)):
        assert me.post("/console/practice/availability/dated", form).status_code == 404
    assert me.post(f"/console/practice/availability/dated/{their_rule}/delete").status_code == 404
    assert _rows(
        owner_dsn, "SELECT count(*) FROM availability_rules WHERE id = %s", their_rule
    ) == [(1,)]
    assert _rows(
        owner_dsn, "SELECT count(*) FROM availability_rules WHERE tenant_id = %s", mine.id
    ) == [(0,)]
