"""Practitioner alerts, daily agendas and per-visit-type reminder times.

Practitioners hear of changes on their calendar, may turn that off, and may get a daily
agenda; visit types may have their own reminder times.
"""

from __future__ import annotations

import datetime as dt
import uuid

from saas.db import tenant_session
from saas.models import Tenant
from saas.scheduling.agenda import plan_agendas
from saas.scheduling.reminders import plan_reminders
from tests.factories import StaffFactory
from tests.helpers import html_of, text_of
from tests.scheduling.conftest import check
from tests.scheduling.test_notifications import _mail, _patient_with_email
from tests.scheduling.test_reminders import _relay


def _link_staff(p):
    """A practitioner account linked to the practice's practitioner; its email."""
    member = StaffFactory(clinic=p.clinic, role="practitioner", name="Anna Weber")
    check(
        p.owner.patch(
            f"/api/v1/practice/practitioners/{p.practitioner_id}", {"user_id": str(member.id)}
        ),
        200,
    )
    return member.email


def test_practitioner_is_alerted_of_booking_move_and_cancel_and_can_turn_it_off(
    app, make_practice, worker, mail_dir, sql
):
    p = make_practice("Europe/Berlin")
    staff_email = _link_staff(p)
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    day = p.day(3)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201
    )
    check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "12:00").isoformat()},
            token=token,
        ),
        200,
    )
    booked, moved = _mail(mail_dir, staff_email, 2)
    assert booked["Subject"].strip().startswith("New booking: Follow-up consultation")
    assert "Meera Nair booked Follow-up consultation." in text_of(booked)
    link = f"/console/calendar/appointments/{appt['id']}"
    assert link in text_of(booked) and link in html_of(booked)
    assert moved["Subject"].strip().startswith("Moved: ") and "Previously: " in text_of(moved)
    # the preference is on by default and shown by the API; turned off, the cancel is skipped
    got = check(p.owner.get(f"/api/v1/practice/practitioners/{p.practitioner_id}"), 200)
    assert got["alerts_enabled"] is True and got["daily_agenda"] is False
    check(
        p.owner.patch(
            f"/api/v1/practice/practitioners/{p.practitioner_id}", {"alerts_enabled": False}
        ),
        200,
    )
    check(p.owner.post(f"/api/v1/appointments/{appt['id']}/cancel", {}, token=token), 200)
    _relay(app, sql, p.clinic.id)
    rows = sql(
        "SELECT payload->>'event', state, skip_reason FROM outbox WHERE tenant_id = %s"
        " AND topic = 'practitioner.alert' ORDER BY created_at",
        p.clinic.id,
    )
    assert rows == [
        ("appointment.confirmed", "sent", None),
        ("appointment.rescheduled", "sent", None),
        ("appointment.cancelled", "skipped", "turned off by the practitioner"),
    ]
    assert len(_mail(mail_dir, staff_email, 2)) == 2
    audit = sql(
        "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'practice.practitioner_updated'"
        " ORDER BY created_at DESC LIMIT 1",
        p.clinic.id,
    )
    assert audit[0][0]["alerts_enabled"] == "False"


def test_unlinked_practitioner_gets_no_alert(app, make_practice, worker, sql):
    p = make_practice()
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token), 201
    )
    _relay(app, sql, p.clinic.id)
    assert sql(
        "SELECT state, skip_reason FROM outbox WHERE tenant_id = %s AND topic = 'practitioner.alert'",
        p.clinic.id,
    ) == [("skipped", "no staff account")]


def test_daily_agenda_lists_the_day_once(app, make_practice, worker, mail_dir, sql):
    p = make_practice("Europe/Berlin")
    staff_email = _link_staff(p)
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    day = p.day(3)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201)
    now = p.at(day, "05:00").astimezone(dt.UTC)
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert plan_agendas(sess, sess.get(Tenant, p.clinic.id), now) == 0  # opt-in
    check(
        p.owner.patch(
            f"/api/v1/practice/practitioners/{p.practitioner_id}", {"daily_agenda": True}
        ),
        200,
    )
    for expected in (2, 0):  # today and tomorrow; planning again writes nothing
        with app.app_context(), tenant_session(p.clinic.id) as sess:
            assert plan_agendas(sess, sess.get(Tenant, p.clinic.id), now) == expected
    due = sql(
        "SELECT payload->>'date', next_attempt_at FROM outbox WHERE tenant_id = %s"
        " AND topic = 'practitioner.agenda' ORDER BY 1",
        p.clinic.id,
    )
    assert [d for d, _ in due] == [day.isoformat(), (day + dt.timedelta(days=1)).isoformat()]
    assert due[0][1] == p.at(day, "06:00")
    sql(
        "UPDATE outbox SET next_attempt_at = now() WHERE tenant_id = %s"
        " AND topic = 'practitioner.agenda' AND payload->>'date' = %s",
        p.clinic.id,
        day.isoformat(),
    )
    # the agenda is checked against the real clock (too late from noon of its day on): move
    # its day to tomorrow, whose agenda is never too late, whenever the suite runs
    today = dt.datetime.now(dt.UTC).astimezone(p.at(day, "00:00").tzinfo).date()
    sql(
        "UPDATE outbox SET payload = payload || jsonb_build_object('date', %s::text)"
        " WHERE tenant_id = %s AND topic = 'practitioner.agenda' AND payload->>'date' = %s",
        (today + dt.timedelta(days=1)).isoformat(),
        p.clinic.id,
        day.isoformat(),
    )
    _relay(app, sql, p.clinic.id)
    mails = [m for m in _mail(mail_dir, staff_email, 2) if "Your day" in m["Subject"]]
    assert len(mails) == 1
    assert "Your visits on" in text_of(mails[0])


def test_agenda_lists_visits_of_its_day(app, make_practice):
    from saas.scheduling.agenda import visits_of_day

    p = make_practice("Europe/Berlin")
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    day = p.day(3)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201)
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        tenant = sess.get(Tenant, p.clinic.id)
        (v,) = visits_of_day(sess, tenant, p.practitioner_id, day.isoformat(), "Europe/Berlin")
        assert v.start_at == p.at(day, "10:00") and v.service_name == "Follow-up consultation"
        nxt = (day + dt.timedelta(days=1)).isoformat()
        assert visits_of_day(sess, tenant, p.practitioner_id, nxt, "Europe/Berlin") == []


def test_visit_type_reminder_offsets_override_the_clinics(app, make_practice, sql):
    p = make_practice("Europe/London")
    token = _patient_with_email(app, p.clinic, f"pt-{uuid.uuid4().hex[:8]}@example.org")
    path = f"/api/v1/practice/visit-types/{p.service_id}"
    bad = p.owner.patch(path, {"reminder_offsets_minutes": [5]})
    assert bad.status_code == 422 and "reminder_offsets_minutes" in bad.get_data(as_text=True)
    assert check(p.owner.get(path), 200)["reminder_offsets_minutes"] is None
    check(p.owner.patch(path, {"reminder_offsets_minutes": [2880]}), 200)
    day = p.day(5)
    visit = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201
    )
    now = dt.datetime.fromisoformat(visit["start"]) - dt.timedelta(days=3)
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert plan_reminders(sess, sess.get(Tenant, p.clinic.id), now) == 1
    rows = sql(
        "SELECT payload->>'offset_minutes', next_attempt_at FROM outbox WHERE tenant_id = %s"
        " AND topic = 'appointment.reminder'",
        p.clinic.id,
    )
    assert rows == [("2880", p.at(day - dt.timedelta(days=2), "10:00"))]
    # an empty list: no reminders for this visit type
    check(p.owner.patch(path, {"reminder_offsets_minutes": []}), 200)
    sql("DELETE FROM outbox WHERE tenant_id = %s AND topic = 'appointment.reminder'", p.clinic.id)
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert plan_reminders(sess, sess.get(Tenant, p.clinic.id), now) == 0
