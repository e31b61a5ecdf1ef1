"""A practitioner's alert and agenda emails, set in the console.

Owners and admins set them on the practitioner's page; a practitioner with a staff account
sets their own under "Your security" (no practice permission needed). Both save through
the API's verb, and delivery follows the saved row.
"""

from __future__ import annotations

import re
import uuid

from tests.client import new_client
from tests.factories import PracticeFactory
from tests.scheduling.conftest import check
from tests.scheduling.test_notifications import _patient_with_email
from tests.scheduling.test_reminders import _relay

from .console import Console


def _prefs(sql, practitioner_id) -> tuple:
    return sql(
        "SELECT alerts_enabled, daily_agenda FROM practitioners WHERE id = %s", practitioner_id
    )[0]


def _checked(page: str, field_id: str) -> bool:
    tag = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', page).group(0)
    return re.search(r"\schecked[\s>]", tag) is not None


def _member_id(sql, clinic, email) -> str:
    return str(
        sql("SELECT id FROM users WHERE tenant_id = %s AND email = %s", clinic.id, email)[0][0]
    )


def _edit_form(console, p, *, alerts_enabled: bool, daily_agenda: bool) -> dict:
    """The practitioner page's fields as shown, with the two checkboxes set as given."""
    page = console.text(f"/console/practice/practitioners/{p.practitioner_id}")
    linked = re.search(r'<option selected value="([^"]*)"', page)
    data = {
        "display_name": "Dr. Anna Weber",
        "title": "Homeopath",
        "bio": "",
        "user_id": linked.group(1) if linked else "",
    }
    for name, on in (("alerts_enabled", alerts_enabled), ("daily_agenda", daily_agenda)):
        if on:
            data[name] = "y"
    return data


def _link(sql, p, member) -> None:
    """Link ``member``'s staff account to the practice's practitioner (through the API)."""
    check(
        p.owner.patch(
            f"/api/v1/practice/practitioners/{p.practitioner_id}",
            {"user_id": _member_id(sql, p.clinic, member.email)},
        ),
        200,
    )


def test_owner_turns_alerts_off_and_agenda_on_and_a_booking_alerts_nobody(app, worker, sql):
    p = PracticeFactory(tz="Europe/Berlin")
    owner = Console(app, p.clinic)
    member = Console(app, p.clinic, "practitioner")
    _link(sql, p, member)
    page = owner.text(f"/console/practice/practitioners/{p.practitioner_id}")
    assert "Email them when a visit on their calendar is booked, moved or cancelled." in page
    assert _checked(page, "alerts_enabled") and not _checked(page, "daily_agenda")  # defaults
    r = owner.post(
        f"/console/practice/practitioners/{p.practitioner_id}",
        _edit_form(owner, p, alerts_enabled=False, daily_agenda=True),
        form_page=f"/console/practice/practitioners/{p.practitioner_id}",
    )
    assert r.status_code == 302 and r.location.endswith("/console/practice/practitioners")
    assert "Dr. Anna Weber saved." in owner.text("/console/practice/practitioners")
    assert _prefs(sql, p.practitioner_id) == (False, True)
    audit = sql(
        "SELECT data FROM audit_log WHERE tenant_id = %s"
        " AND action = 'practice.practitioner_updated' ORDER BY created_at DESC LIMIT 1",
        p.clinic.id,
    )[0][0]
    assert audit["alerts_enabled"] == "False" and audit["daily_agenda"] == "True"
    # the API reads the same row
    got = check(p.owner.get(f"/api/v1/practice/practitioners/{p.practitioner_id}"), 200)
    assert got["alerts_enabled"] is False and got["daily_agenda"] is True
    # a booking now alerts nobody
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token), 201
    )
    _relay(app, sql, p.clinic.id)
    assert sql(
        "SELECT state, skip_reason FROM outbox WHERE tenant_id = %s"
        " AND topic = 'practitioner.alert'",
        p.clinic.id,
    ) == [("skipped", "turned off by the practitioner")]


def test_practitioner_sets_their_own_notifications_without_practice_permission(app, sql):
    p = PracticeFactory()
    member = Console(app, p.clinic, "practitioner")
    page = member.text("/console/account/security")
    assert "You are not bookable, so there are no calendar emails to set." in page
    assert member.post("/console/account/notifications", {}).status_code == 404
    _link(sql, p, member)
    page = member.text("/console/account/security")
    assert "My notifications" in page and "Emails about your calendar as Dr. Anna Weber" in page
    assert "Email me when a visit on my calendar is booked, moved or cancelled." in page
    assert member.get(f"/console/practice/practitioners/{p.practitioner_id}").status_code == 403
    r = member.post(
        "/console/account/notifications",
        {"nt-daily_agenda": "y"},
        form_page="/console/account/security",
    )
    assert r.status_code == 302 and "/console/account/security" in r.location
    page = member.text("/console/account/security")
    assert "Your notification emails are saved." in page
    assert _checked(page, "nt-daily_agenda") and not _checked(page, "nt-alerts_enabled")
    assert _prefs(sql, p.practitioner_id) == (False, True)
    # the profile itself is not changed by this form
    assert sql("SELECT display_name FROM practitioners WHERE id = %s", p.practitioner_id) == [
        ("Dr. Anna Weber",)
    ]


def test_missing_csrf_token_is_refused_and_nothing_changes(app, sql):
    p = PracticeFactory()
    owner = Console(app, p.clinic)
    member = Console(app, p.clinic, "practitioner")
    _link(sql, p, member)
    before = _prefs(sql, p.practitioner_id)
    data = _edit_form(owner, p, alerts_enabled=False, daily_agenda=True)
    r = owner.client.post(
        f"/console/practice/practitioners/{p.practitioner_id}", data=data, base_url=owner.base
    )
    assert r.status_code == 400
    r = member.client.post(
        "/console/account/notifications", data={"nt-daily_agenda": "y"}, base_url=member.base
    )
    assert r.status_code == 400
    assert _prefs(sql, p.practitioner_id) == before == (True, False)


def test_another_clinics_practitioner_is_not_found(app, sql):
    a = PracticeFactory()
    b = PracticeFactory()
    owner_b = Console(app, b.clinic)
    r = owner_b.post(
        f"/console/practice/practitioners/{a.practitioner_id}",
        {"display_name": "Taken over", "user_id": "", "daily_agenda": "y"},
    )
    assert r.status_code == 404
    assert _prefs(sql, a.practitioner_id) == (True, False)
    # a session of clinic A is not signed in on clinic B's host
    anon = new_client(app)
    r = anon.post("/console/account/notifications", base_url=f"http://{b.clinic.host}")
    assert r.status_code in (302, 400)
