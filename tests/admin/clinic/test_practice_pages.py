"""Practice settings pages (``/console/practice/...``): roles, another clinic's ids, forms.

Each page is driven like a browser would (CSRF token from the page, form fields), and what
it claims is checked in the database through the owner connection (outside RLS).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import psycopg
import pytest

from tests.factories import AppointmentFactory, ClinicFactory, PatientFactory, PracticeFactory

from .console import Console

PAGES = [
    "/console/practice/",
    "/console/practice/profile",
    "/console/practice/locations",
    "/console/practice/practitioners",
    "/console/practice/visit-types",
    "/console/practice/visit-types/new",
    "/console/practice/availability",
    "/console/practice/closures",
    "/console/practice/booking-rules",
    "/console/practice/branding",
]


def _rows(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_open_every_practice_page(app, role):
    """Every page answers with its title and breadcrumbs for the roles that run the practice."""
    clinic = ClinicFactory()
    console = Console(app, clinic, role)
    for path in PAGES:
        page = console.text(path)
        assert f"— {clinic.name}</title>" in page, path
        assert 'aria-label="Breadcrumb"' in page, path
    dash = console.text("/console/")
    assert "Set up your practice" in dash and "/console/practice/locations" in dash


@pytest.mark.parametrize("role", ["practitioner", "receptionist"])
def test_practitioners_and_receptionists_are_refused(app, owner_dsn, role):
    """403 on every page and on a change; nothing is created; no checklist on their home."""
    clinic = ClinicFactory()
    console = Console(app, clinic, role)
    for path in PAGES:
        assert console.get(path).status_code == 403, path
    r = console.post(
        "/console/practice/locations",
        {"name": "Sneaky", "kind": "online", "timezone": "Europe/London"},
    )
    assert r.status_code == 403
    assert _rows(owner_dsn, "SELECT 1 FROM locations WHERE tenant_id = %s", clinic.id) == []
    dash = console.text("/console/")
    assert "Set up your practice" not in dash and "not taking bookings yet" in dash
    assert "/console/practice/" not in dash


def test_location_form_shows_errors_keeps_input_and_saves(app, owner_dsn):
    """A missing address is refused next to the field, input kept; a valid one is saved."""
    clinic = ClinicFactory(timezone="Asia/Kolkata", country="IN")
    console = Console(app, clinic)
    bad = console.post(
        "/console/practice/locations",
        {"name": "Bandra clinic", "kind": "in_person", "address": "", "timezone": "Asia/Kolkata"},
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "There is a problem" in page and "Enter the address patients come to." in page
    assert 'value="Bandra clinic"' in page and 'aria-invalid="true"' in page
    assert _rows(owner_dsn, "SELECT 1 FROM locations WHERE tenant_id = %s", clinic.id) == []
    ok = console.post(
        "/console/practice/locations",
        {
            "name": "Bandra clinic",
            "kind": "in_person",
            "address": "12 Hill Road, Mumbai",
            "timezone": "Asia/Kolkata",
        },
        follow_redirects=True,
    )
    assert "Location “Bandra clinic” added." in ok.get_data(as_text=True)
    (loc_id,) = _rows(
        owner_dsn,
        "SELECT id FROM locations WHERE tenant_id = %s AND address = '12 Hill Road, Mumbai'",
        clinic.id,
    )[0]
    video = console.post(
        "/console/practice/locations",
        {"name": "Video", "kind": "online", "timezone": "Asia/Kolkata"},
    )
    assert video.status_code == 302
    edit = console.post(
        f"/console/practice/locations/{loc_id}",
        {
            "name": "Bandra",
            "kind": "in_person",
            "address": "12 Hill Road",
            "timezone": "Asia/Dubai",
        },
    )
    assert edit.status_code == 302
    archived = console.post(f"/console/practice/locations/{loc_id}/archive")
    assert archived.status_code == 302
    assert _rows(
        owner_dsn, "SELECT name, timezone, is_active FROM locations WHERE id = %s", loc_id
    ) == [("Bandra", "Asia/Dubai", False)]
    actions = [
        r[0]
        for r in _rows(
            owner_dsn,
            "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'practice.%%'",
            clinic.id,
        )
    ]
    assert actions.count("practice.location_created") == 2
    assert actions.count("practice.location_updated") == 2


def test_another_clinics_ids_are_404(app, owner_dsn):
    """An owner of clinic B gets 404 for clinic A's records on every page and action."""
    a = PracticeFactory()
    closure = a.owner.post(
        "/api/v1/practice/closures", {"name": "Holiday", "start_date": "2030-01-02"}
    ).get_json()
    b = ClinicFactory()
    console = Console(app, b)
    loc, prac, vt = a.location_id, a.practitioner_id, a.service_id
    for path in (
        f"/console/practice/locations/{loc}",
        f"/console/practice/practitioners/{prac}",
        f"/console/practice/visit-types/{vt}",
        f"/console/practice/availability?practitioner={prac}",
        f"/console/practice/availability?location={loc}",
    ):
        assert console.get(path).status_code == 404, path
    for path in (
        f"/console/practice/locations/{loc}/archive",
        f"/console/practice/practitioners/{prac}/archive",
        f"/console/practice/visit-types/{vt}/archive",
        f"/console/practice/closures/{closure['id']}/delete",
        f"/console/practice/locations/{loc}",
    ):
        assert console.post(path, {"name": "X", "kind": "online"}).status_code == 404, path
    owner_a = _rows(owner_dsn, "SELECT id FROM users WHERE tenant_id = %s", a.clinic.id)[0][0]
    assert console.post(f"/console/practice/practitioners/from-staff/{owner_a}").status_code == 404
    assert _rows(owner_dsn, "SELECT is_active FROM locations WHERE id = %s", loc) == [(True,)]
    assert _rows(owner_dsn, "SELECT 1 FROM closures WHERE id = %s", closure["id"]) == [(1,)]


def test_practitioners_from_staff_and_bookable_only(app, owner_dsn):
    """A staff practitioner is offered "Make bookable"; a bookable-only person needs no account."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    colleague = Console(app, clinic, "practitioner")
    page = console.text("/console/practice/practitioners")
    assert f"Make {colleague_name(owner_dsn, colleague)} bookable" in page
    user_id = _rows(owner_dsn, "SELECT id FROM users WHERE email = %s", colleague.email)[0][0]
    r = console.post(f"/console/practice/practitioners/from-staff/{user_id}")
    assert r.status_code == 302
    r = console.post(
        "/console/practice/practitioners",
        {"display_name": "Dr. Priya Nair", "title": "Homeopath", "bio": "", "user_id": ""},
    )
    assert r.status_code == 302
    rows = _rows(
        owner_dsn,
        "SELECT display_name, user_id IS NOT NULL FROM practitioners WHERE tenant_id = %s "
        "ORDER BY display_name",
        clinic.id,
    )
    assert rows == [("Dr. Priya Nair", False), (colleague_name(owner_dsn, colleague), True)]
    page = console.text("/console/practice/practitioners")
    assert "bookable" not in page.split("Add a practitioner")[0].split("<table")[0]
    # the same account cannot be linked twice
    dup = console.post(
        "/console/practice/practitioners",
        {"display_name": "Again", "user_id": str(user_id)},
    )
    assert dup.status_code == 422  # not among the choices any more


def colleague_name(dsn, console) -> str:
    """The staff member's name."""
    return _rows(dsn, "SELECT name FROM users WHERE email = %s", console.email)[0][0]


def _set_up(console: Console) -> tuple[str, str]:
    """Add a location and a practitioner through the pages; returns their ids."""
    assert (
        console.post(
            "/console/practice/locations",
            {
                "name": "Town practice",
                "kind": "in_person",
                "address": "1 Remedy Lane",
                "timezone": console.clinic.timezone,
            },
        ).status_code
        == 302
    )
    assert (
        console.post(
            "/console/practice/practitioners",
            {"display_name": "Dr. Anna Weber", "user_id": ""},
        ).status_code
        == 302
    )
    page = console.text("/console/practice/visit-types/new")
    loc = re.search(r'name="location_ids"[^>]*value="([0-9a-f-]{36})"', page) or re.search(
        r'value="([0-9a-f-]{36})"[^>]*name="location_ids"', page
    )
    prac = re.search(r'name="practitioner_ids"[^>]*value="([0-9a-f-]{36})"', page) or re.search(
        r'value="([0-9a-f-]{36})"[^>]*name="practitioner_ids"', page
    )
    return loc.group(1), prac.group(1)


def test_visit_type_page_saves_links_price_and_follow_up(app, owner_dsn):
    """Duration, buffers, price, new/returning, who and where, and a follow-up window."""
    clinic = ClinicFactory(timezone="Europe/London", country="GB")
    console = Console(app, clinic)
    loc, prac = _set_up(console)
    bad = console.post(
        "/console/practice/visit-types/new",
        {
            "name": "Video follow-up",
            "duration_minutes": "30",
            "price": "45.50",
            "mode": "online",
            "patients": "returning",
            "practitioner_ids": [prac],
            "location_ids": [loc],
        },
    )
    assert bad.status_code == 422
    assert "Town practice is in-person, this visit type is online." in bad.get_data(as_text=True)
    ok = console.post(
        "/console/practice/visit-types/new",
        {
            "name": "Follow-up",
            "description": "For returning patients.",
            "duration_minutes": "30",
            "buffer_after_minutes": "10",
            "price": "45.50",
            "mode": "in_person",
            "patients": "returning",
            "practitioner_ids": [prac],
            "location_ids": [loc],
            "follow_up_min_days": "28",
            "follow_up_max_days": "42",
        },
    )
    assert ok.status_code == 302
    (vt,) = _rows(
        owner_dsn,
        "SELECT id, duration_minutes, buffer_after_minutes, price_minor, currency, "
        "returning_patients_only FROM visit_types WHERE tenant_id = %s",
        clinic.id,
    )
    assert vt[1:] == (30, 10, 4550, "GBP", True)
    assert _rows(
        owner_dsn,
        "SELECT follow_up_min_days, follow_up_max_days FROM booking_rules WHERE service_id = %s",
        vt[0],
    ) == [(28, 42)]
    listing = console.text("/console/practice/visit-types")
    assert "£45.50" in listing and "1 practitioner, 1 location" in listing
    edit = console.text(f"/console/practice/visit-types/{vt[0]}")
    assert 'value="45.50"' in edit and 'value="28"' in edit


def test_availability_grid_saves_a_week_and_refuses_overlaps(app, owner_dsn):
    """The grid replaces the week at one location; an overlap elsewhere changes nothing."""
    clinic = ClinicFactory(timezone="Europe/Berlin", country="DE")
    console = Console(app, clinic)
    loc, prac = _set_up(console)
    week = {
        "practitioner": prac,
        "location": loc,
        "d1_0_start": "09:00",
        "d1_0_end": "12:00",
        "d1_1_start": "13:00",
        "d1_1_end": "17:00",
        "d3_0_start": "10:00",
        "d3_0_end": "14:00",
    }
    r = console.post("/console/practice/availability", week, follow_redirects=True)
    assert "(3 windows)" in r.get_data(as_text=True)
    windows = _rows(
        owner_dsn,
        "SELECT weekday, start_time::text, end_time::text FROM availability_rules "
        "WHERE tenant_id = %s ORDER BY weekday, start_time",
        clinic.id,
    )
    assert windows == [
        (1, "09:00:00", "12:00:00"),
        (1, "13:00:00", "17:00:00"),
        (3, "10:00:00", "14:00:00"),
    ]
    grid = console.text(f"/console/practice/availability?practitioner={prac}&location={loc}")
    assert 'name="d1_1_start" value="13:00"' in grid
    # a second location: Monday morning there overlaps the town practice's Monday
    console.post(
        "/console/practice/locations",
        {"name": "Video", "kind": "online", "timezone": "Europe/Berlin"},
    )
    video = _rows(
        owner_dsn, "SELECT id FROM locations WHERE name = 'Video' AND tenant_id = %s", clinic.id
    )[0][0]
    clash = console.post(
        "/console/practice/availability",
        {
            "practitioner": prac,
            "location": str(video),
            "d2_0_start": "09:00",
            "d2_0_end": "10:00",
            "d1_0_start": "11:00",
            "d1_0_end": "12:30",
        },
    )
    page = clash.get_data(as_text=True)
    assert clash.status_code == 422
    assert "Overlaps Monday 09:00–12:00 at Town practice." in page
    assert 'value="11:00"' in page and "Nothing was changed" in page
    bad_time = console.post(
        "/console/practice/availability",
        {"practitioner": prac, "location": loc, "d5_0_start": "17:00", "d5_0_end": "09:00"},
    )
    assert bad_time.status_code == 422 and "The end must be after the start." in bad_time.get_data(
        as_text=True
    )
    assert (
        len(_rows(owner_dsn, "SELECT 1 FROM availability_rules WHERE tenant_id = %s", clinic.id))
        == 3
    )


def test_booking_rules_in_hours_and_money(app, owner_dsn):
    """Hours and amounts on the page; minutes and minor units in the database."""
    clinic = ClinicFactory(timezone="Asia/Kolkata", country="IN")
    console = Console(app, clinic)
    page = console.text("/console/practice/booking-rules")
    assert 'value="12"' in page  # 12 hours' notice by default
    rules = {
        "slot_step_minutes": "20",
        "min_notice_hours": "24",
        "max_advance_days": "60",
        "cancellation_cutoff_hours": "48",
        "reschedule_cutoff_hours": "12",
        "late_fee": "500",
        "hold_minutes": "15",
    }
    bad = console.post("/console/practice/booking-rules", {**rules, "slot_step_minutes": "1"})
    assert bad.status_code == 422 and "There is a problem" in bad.get_data(as_text=True)
    assert _rows(owner_dsn, "SELECT 1 FROM booking_rules WHERE tenant_id = %s", clinic.id) == []
    assert console.post("/console/practice/booking-rules", rules).status_code == 302
    assert _rows(
        owner_dsn,
        "SELECT slot_step_minutes, min_notice_minutes, max_advance_days, "
        "cancellation_cutoff_minutes, reschedule_cutoff_minutes, late_cancellation_fee_minor, "
        "hold_minutes FROM booking_rules WHERE tenant_id = %s AND service_id IS NULL",
        clinic.id,
    ) == [(20, 1440, 60, 2880, 720, 50000, 15)]


def test_clinic_profile_through_the_settings_registry(app, owner_dsn):
    """Contact details, zone and currency saved through the ``clinic`` section (audited)."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    data = {
        "name": "Arnica House",
        "address": "3 Elm Street\nBristol",
        "phone": "+44 117 496 0000",
        "email": "hello@arnica.example",
        "timezone": "Europe/London",
        "currency": "EUR",
    }
    bad = console.post("/console/practice/profile", {**data, "phone": "call me"})
    assert bad.status_code == 422 and "Use digits, spaces and + ( ) - only." in bad.get_data(
        as_text=True
    )
    assert console.post("/console/practice/profile", data).status_code == 302
    name, currency, settings = _rows(
        owner_dsn, "SELECT name, currency, settings FROM tenants WHERE id = %s", clinic.id
    )[0]
    assert (name, currency) == ("Arnica House", "EUR")
    assert settings["clinic"]["phone"] == "+44 117 496 0000"
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'settings.clinic_changed'",
        clinic.id,
    ) == [(1,)]


def _booked(tz: str = "Europe/Berlin"):
    p = PracticeFactory(tz=tz)
    day = p.day(5)
    maria = PatientFactory(clinic=p.clinic, full_name="Maria Schmidt", bare=True)
    jonas = PatientFactory(clinic=p.clinic, full_name="Jonas Keller", bare=True)
    first = AppointmentFactory(practice=p, patient=maria, start=p.at(day, "10:00"), by_staff=True)
    second = AppointmentFactory(practice=p, patient=jonas, start=p.at(day, "14:00"), by_staff=True)
    return p, day, first, second


def test_closure_over_booked_visits_lists_them_before_saving_then_settles_each(app, owner_dsn):
    """No silent overlap: the page lists the bookings, saves nothing, then cancels or moves each."""
    p, day, first, second = _booked()
    console = Console(app, p.clinic)
    form = {
        "closure-name": "Staff training",
        "closure-start_date": day.isoformat(),
        "closure-end_date": "",
        "closure-location_id": "",
    }
    ask = console.post("/console/practice/closures", form, form_page="/console/practice/closures")
    page = ask.get_data(as_text=True)
    assert ask.status_code == 200
    assert "2 booked visits would be affected" in page and "Nothing is saved yet" in page
    assert "Maria Schmidt" in page and "Jonas Keller" in page and "(Europe/Berlin)" in page
    assert _rows(owner_dsn, "SELECT 1 FROM closures WHERE tenant_id = %s", p.clinic.id) == []
    options = re.findall(rf'<select id="appt_{second.id}".*?</select>', page, re.S)[0]
    move_to = re.findall(r'<option value="([^"]+\|[^"]+)"', options)[0]
    moved_start = dt.datetime.fromisoformat(move_to.split("|")[0])
    assert moved_start.astimezone(p.zone).date() != day  # never into the closure
    # confirming without a choice for each booking asks again
    missing = console.post(
        "/console/practice/closures",
        {**form, "confirmed": "1", f"appt_{first.id}": "cancel"},
        form_page="/console/practice/closures",
    )
    assert missing.status_code == 422
    assert "Choose to cancel or move this booking." in missing.get_data(as_text=True)
    assert _rows(owner_dsn, "SELECT 1 FROM closures WHERE tenant_id = %s", p.clinic.id) == []
    done = console.post(
        "/console/practice/closures",
        {**form, "confirmed": "1", f"appt_{first.id}": "cancel", f"appt_{second.id}": move_to},
        form_page="/console/practice/closures",
        follow_redirects=True,
    )
    assert "1 booking(s) cancelled and 1 moved" in done.get_data(as_text=True)
    assert _rows(owner_dsn, "SELECT name FROM closures WHERE tenant_id = %s", p.clinic.id) == [
        ("Staff training",)
    ]
    status = dict(
        _rows(owner_dsn, "SELECT id, status FROM appointments WHERE tenant_id = %s", p.clinic.id)
    )
    assert status[first.id] == "cancelled" and status[second.id] == "confirmed"
    assert _rows(owner_dsn, "SELECT start_at FROM appointments WHERE id = %s", second.id) == [
        (moved_start,)
    ]
    topics = sorted(
        r[0]
        for r in _rows(
            owner_dsn,
            "SELECT topic FROM outbox WHERE tenant_id = %s AND topic LIKE 'appointment.%%' "
            "AND payload->>'appointment_id' IN (%s, %s) AND created_at > now() - interval '1 minute'",
            p.clinic.id,
            str(first.id),
            str(second.id),
        )
    )
    assert "appointment.cancelled" in topics and "appointment.rescheduled" in topics


def test_time_off_over_a_booking_and_a_free_day(app, owner_dsn):
    """Time off on a free day saves at once; over a booking it asks first (in local time)."""
    p, day, first, _ = _booked("Asia/Kolkata")
    console = Console(app, p.clinic)
    free = day + dt.timedelta(days=1)
    ok = console.post(
        "/console/practice/time-off",
        {
            "off-practitioner_id": p.practitioner_id,
            "off-kind": "time_off",
            "off-start": f"{free.isoformat()}T00:00",
            "off-end": f"{free.isoformat()}T23:59",
            "off-location_id": "",
            "off-reason": "Sick day",
        },
        form_page="/console/practice/closures",
    )
    assert ok.status_code == 302
    starts = _rows(
        owner_dsn, "SELECT starts_at FROM availability_exceptions WHERE tenant_id = %s", p.clinic.id
    )
    assert starts[0][0] == dt.datetime.combine(free, dt.time(), p.zone)
    ask = console.post(
        "/console/practice/time-off",
        {
            "off-practitioner_id": p.practitioner_id,
            "off-kind": "time_off",
            "off-start": f"{day.isoformat()}T09:30",
            "off-end": f"{day.isoformat()}T11:00",
            "off-location_id": "",
            "off-reason": "",
        },
        form_page="/console/practice/closures",
    )
    page = ask.get_data(as_text=True)
    assert "1 booked visit would be affected" in page and "Maria Schmidt" in page
    assert "Jonas Keller" not in page
    assert (
        len(
            _rows(
                owner_dsn, "SELECT 1 FROM availability_exceptions WHERE tenant_id = %s", p.clinic.id
            )
        )
        == 1
    )


def test_delete_closure_and_time_off(app, owner_dsn):
    """Removing a closure reopens the days (audited)."""
    p = PracticeFactory()
    closure = p.owner.post(
        "/api/v1/practice/closures", {"name": "Diwali", "start_date": "2031-11-03"}
    ).get_json()
    console = Console(app, p.clinic)
    assert "Diwali" in console.text("/console/practice/closures")
    assert console.post(f"/console/practice/closures/{closure['id']}/delete").status_code == 302
    assert _rows(owner_dsn, "SELECT 1 FROM closures WHERE id = %s", closure["id"]) == []
    assert console.post(f"/console/practice/time-off/{uuid.uuid4()}/delete").status_code == 404
