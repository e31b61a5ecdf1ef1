"""The console's day view: the front desk sees the day and checks patients in."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from tests.conftest import new_client
from tests.factories import PASSWORD, add_staff
from tests.helpers import csrf_from, post_form
from tests.scheduling.conftest import check


def _signed_in(app, clinic, role):
    email, secret = add_staff(app, clinic, role)
    client = new_client(app)
    post_form(client, "/login", clinic.host, {"email": email, "password": PASSWORD})
    post_form(client, "/login/mfa", clinic.host, {"code": pyotp.TOTP(secret).now()})
    return client


def test_receptionist_sees_the_day_and_checks_a_patient_in(app, make_practice, make_patient, sql):
    """Today's booking is listed in clinic time with the patient's name; check-in is audited."""
    p = make_practice("Asia/Kolkata")
    pat = make_patient(p.clinic, "Ananya Iyer")
    start = p.at(p.day(1), "10:00")
    appt = check(p.owner.as_(pat.token).post("/api/v1/appointments", p.booking(start)), 201)
    # the consultation is now starting: move it to the present (clinic time)
    sql(
        "UPDATE appointments SET start_at = now() - interval '5 minutes', end_at = now() + interval '55 minutes', "
        "occupied = tstzrange(now() - interval '5 minutes', now() + interval '55 minutes') WHERE id = %s",
        appt["id"],
    )
    desk = _signed_in(app, p.clinic, "receptionist")
    page = desk.get("/console/day/", base_url=f"http://{p.clinic.host}").get_data(as_text=True)
    assert "Ananya Iyer" in page and "Follow-up consultation" in page and "Dr. Anna Weber" in page
    assert "Asia/Kolkata" in page
    local = dt.datetime.now(p.zone) - dt.timedelta(minutes=5)
    assert (
        local.strftime("%H:%M") in page
        or (local + dt.timedelta(minutes=1)).strftime("%H:%M") in page
    )
    resp = desk.post(
        f"/console/day/appointments/{appt['id']}/check-in",
        data={"csrf_token": csrf_from(page)},
        base_url=f"http://{p.clinic.host}",
    )
    assert resp.status_code == 302
    assert sql("SELECT status FROM appointments WHERE id = %s", appt["id"]) == [("checked_in",)]
    events = sql(
        "SELECT action, actor_kind FROM appointment_events WHERE appointment_id = %s ORDER BY created_at",
        appt["id"],
    )
    assert events[-1] == ("checked_in", "staff")
    again = desk.get(resp.location, base_url=f"http://{p.clinic.host}").get_data(as_text=True)
    assert "Appointment checked in." in again


def test_day_view_refuses_other_clinics_and_unknown_actions(app, make_practice, make_patient, sql):
    """Clinic B's staff cannot act on A's appointment (404); a practitioner-less role check."""
    a = make_practice("Europe/London")
    b = make_practice("Europe/London")
    pat = make_patient(a.clinic)
    appt = check(
        a.owner.as_(pat.token).post("/api/v1/appointments", a.booking(a.at(a.day(2), "11:00"))), 201
    )
    other = _signed_in(app, b.clinic, "owner")
    page = other.get("/console/day/", base_url=f"http://{b.clinic.host}").get_data(as_text=True)
    assert "No consultations on this day" in page
    resp = other.post(
        f"/console/day/appointments/{appt['id']}/no-show",
        data={"csrf_token": csrf_from(page)},
        base_url=f"http://{b.clinic.host}",
    )
    assert resp.status_code == 404
    bad = other.post(
        f"/console/day/appointments/{appt['id']}/delete",
        data={"csrf_token": csrf_from(page)},
        base_url=f"http://{b.clinic.host}",
    )
    assert bad.status_code == 404
    assert sql("SELECT status FROM appointments WHERE id = %s", appt["id"]) == [("confirmed",)]
    anonymous = new_client(app).get("/console/day/", base_url=f"http://{a.clinic.host}")
    assert anonymous.status_code == 302


def test_day_view_shows_only_the_actions_that_work(app, make_practice, make_patient, sql):
    """Only the buttons that work: none for tomorrow's visit, all three once it has started.

    Once checked in only "Seen" is left; a stale button is refused with a message.
    """
    p = make_practice("Europe/Berlin")
    pat = make_patient(p.clinic, "Lena Vogel")
    tomorrow = p.day(1)
    appt = check(
        p.owner.as_(pat.token).post("/api/v1/appointments", p.booking(p.at(tomorrow, "10:00"))),
        201,
    )
    desk = _signed_in(app, p.clinic, "receptionist")
    host = f"http://{p.clinic.host}"

    def buttons(day) -> str:
        page = desk.get(f"/console/day/?date={day.isoformat()}", base_url=host)
        assert page.status_code == 200
        return page.get_data(as_text=True)

    ahead = buttons(tomorrow)
    assert "Lena Vogel" in ahead
    for action in ("check-in", "complete", "no-show"):
        assert f"/appointments/{appt['id']}/{action}" not in ahead
    # the page's buttons are the API's allowed actions: a visit tomorrow cannot be checked in
    refused = desk.post(
        f"/console/day/appointments/{appt['id']}/check-in",
        data={"csrf_token": csrf_from(ahead)},
        base_url=host,
    )
    assert refused.status_code == 302
    assert "too early to check in" in desk.get(refused.location, base_url=host).get_data(
        as_text=True
    )
    assert sql("SELECT status FROM appointments WHERE id = %s", appt["id"]) == [("confirmed",)]
    sql(
        "UPDATE appointments SET start_at = now() - interval '5 minutes', "
        "end_at = now() + interval '55 minutes', "
        "occupied = tstzrange(now() - interval '5 minutes', now() + interval '55 minutes') "
        "WHERE id = %s",
        appt["id"],
    )
    today = (dt.datetime.now(p.zone) - dt.timedelta(minutes=5)).date()  # the visit's local day
    started = buttons(today)
    for action in ("check-in", "complete", "no-show"):
        assert f"/appointments/{appt['id']}/{action}" in started
    checked_in = desk.post(
        f"/console/day/appointments/{appt['id']}/check-in",
        data={"csrf_token": csrf_from(started)},
        base_url=host,
    )
    assert checked_in.status_code == 302
    after = buttons(today)
    assert f"/appointments/{appt['id']}/complete" in after
    assert f"/appointments/{appt['id']}/check-in" not in after
    assert f"/appointments/{appt['id']}/no-show" not in after


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "1899-12-31", "2026-02-30"])
def test_day_view_at_the_ends_of_the_calendar_shows_today(app, make_practice, date):
    """An impossible or out-of-range date falls back to today with a message (not a 500)."""
    p = make_practice()
    desk = _signed_in(app, p.clinic, "receptionist")
    page = desk.get(f"/console/day/?date={date}", base_url=f"http://{p.clinic.host}")
    assert page.status_code == 200
    assert "That date was not understood" in page.get_data(as_text=True)
