"""Book by phone: find the caller by name, email or phone (or add them), pick a time, confirm.

Through the Flask test client for each staff role, and with another clinic's ids.
"""

from __future__ import annotations

import re

import pytest

from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory

from .test_calendar_pages import ROLES, console


@pytest.fixture
def practice(app):
    """A Berlin practice with two practitioners offering the visit type."""
    return PracticeFactory(colleagues=[{"display_name": "Dr. Jonas Brandt"}])


def _slots(page: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', page)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_finds_the_caller_and_books_a_free_time(practice, role, sql):
    """Search by phone, pick the visit and "any practitioner", confirm: booked by staff."""
    caller = PatientFactory(clinic=practice.clinic, full_name="Ravi Menon", phone="+49 171 5550123")
    desk = console(practice.clinic, role)
    found = desk.text("/console/calendar/book?q=0171 5550123")
    assert "Ravi Menon" in found and "(by phone)" in found
    assert f"/console/calendar/book?patient={caller.id}" in found
    day = practice.day(2)
    times = desk.text(
        f"/console/calendar/book?patient={caller.id}&service={practice.service_id}&date={day}"
    )
    slots = _slots(times)
    # "any practitioner": both practitioners' free times are offered
    assert {s.split("|")[1] for s in slots} == {
        practice.practitioner_id,
        *practice.extra["colleague_ids"],
    }
    choice = next(
        s
        for s in slots
        if s.startswith(practice.at(day, "11:00").isoformat())
        and s.split("|")[1] == practice.extra["colleague_ids"][0]
    )
    confirm_path = (
        f"/console/calendar/book/confirm?patient={caller.id}&service={practice.service_id}"
        f"&slot={choice.replace('+', '%2B')}"
    )
    summary = desk.text(confirm_path)
    assert "Ravi Menon" in summary and "Dr. Jonas Brandt" in summary and "11:00–12:00" in summary
    assert sql("SELECT count(*) FROM appointments WHERE patient_id = %s", caller.id) == [(0,)]
    done = desk.follow(
        desk.post(
            "/console/calendar/book/confirm",
            {"patient_id": str(caller.id), "service_id": practice.service_id, "slot": choice},
            token_from=confirm_path,
        )
    )
    assert "Booked: Ravi Menon" in done and "confirmed" in done
    rows = sql(
        "SELECT status, booked_by, practitioner_id::text, start_at FROM appointments "
        "WHERE patient_id = %s",
        caller.id,
    )
    assert rows == [
        ("confirmed", "staff", practice.extra["colleague_ids"][0], practice.at(day, "11:00"))
    ]
    calendar = desk.text(f"/console/calendar/day?date={day}")
    assert "Ravi Menon" in calendar
    searched = sql(
        "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'patient.searched' "
        "ORDER BY seq DESC LIMIT 1",
        practice.clinic.id,
    )
    assert searched[0][0]["by"] == ["phone"] and "5550123" not in str(searched)


def test_search_by_exact_email_and_by_part_of_a_name(practice):
    """Email is an exact match through the blind index; a name matches a part of it."""
    caller = PatientFactory(clinic=practice.clinic, full_name="Chiara Rossi")
    desk = console(practice.clinic)
    by_email = desk.text(f"/console/calendar/book?q={caller.email.upper()}")
    assert "Chiara Rossi" in by_email and "(by email)" in by_email
    partial = desk.text(f"/console/calendar/book?q={caller.email[:-3]}")
    assert "Chiara Rossi" not in partial and "No patient matches" in partial
    by_name = desk.text("/console/calendar/book?q=iara ro")
    assert "Chiara Rossi" in by_name and "(by name)" in by_name


def test_a_new_caller_is_added_then_booked(practice, sql):
    """A caller unknown to the clinic is added (sealed contact details) and booking continues."""
    desk = console(practice.clinic, "receptionist")
    bad = desk.post(
        "/console/calendar/book/patients",
        {"full_name": "", "email": "x"},
        token_from="/console/calendar/book",
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "There is a problem" in body and 'href="#full_name"' in body
    resp = desk.post(
        "/console/calendar/book/patients",
        {"full_name": "Noah Keller", "email": "noah@example.org", "phone": "+41 44 123 45 67"},
        token_from="/console/calendar/book",
    )
    assert resp.status_code == 302 and "patient=" in resp.location
    page = desk.text(resp.location)
    assert "Noah Keller added as a patient." in page and "Book for Noah Keller" in page
    row = sql(
        "SELECT full_name, phone_enc IS NOT NULL, email_index IS NOT NULL FROM patients "
        "WHERE tenant_id = %s AND full_name = 'Noah Keller'",
        practice.clinic.id,
    )
    assert row == [("Noah Keller", True, True)]
    again = desk.post(
        "/console/calendar/book/patients",
        {"full_name": "Noah K.", "email": "NOAH@example.org"},
        token_from="/console/calendar/book",
    )
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)


def test_a_taken_time_is_refused_on_confirm_and_nothing_is_booked(practice, sql):
    """Someone else took the time between choosing and confirming: a clear message, no row."""
    caller = PatientFactory(clinic=practice.clinic, full_name="Ines Duarte")
    day = practice.day(2)
    AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    desk = console(practice.clinic)
    slot = (
        f"{practice.at(day, '10:00').isoformat()}|{practice.practitioner_id}|{practice.location_id}"
    )
    resp = desk.post(
        "/console/calendar/book/confirm",
        {"patient_id": str(caller.id), "service_id": practice.service_id, "slot": slot},
        token_from="/console/calendar/book",
    )
    assert resp.status_code == 409 and "just taken" in resp.get_data(as_text=True)
    assert sql("SELECT count(*) FROM appointments WHERE patient_id = %s", caller.id) == [(0,)]


def test_another_clinics_patient_cannot_be_booked_or_seen(practice, sql):
    """Clinic B's staff neither find nor book clinic A's patient."""
    caller = PatientFactory(clinic=practice.clinic, full_name="Lea Fischer")
    other = PracticeFactory()
    desk = console(other.clinic, "owner")
    for q in ("Lea Fischer", caller.email, "+49 30 901820"):
        page = desk.text(f"/console/calendar/book?q={q.replace('+', '%2B')}")
        assert "0 patients found" in page and f"patient={caller.id}" not in page
    resp = desk.get(f"/console/calendar/book?patient={caller.id}")
    assert resp.status_code == 302 and "not found" in desk.text(resp.location)
    day = other.day(2)
    slot = f"{other.at(day, '10:00').isoformat()}|{other.practitioner_id}|{other.location_id}"
    booked = desk.post(
        "/console/calendar/book/confirm",
        {"patient_id": str(caller.id), "service_id": other.service_id, "slot": slot},
        token_from="/console/calendar/book",
    )
    assert booked.status_code == 302
    assert "Choose the patient again" in desk.text(booked.location)
    assert sql("SELECT count(*) FROM appointments WHERE patient_id = %s", caller.id) == [(0,)]
