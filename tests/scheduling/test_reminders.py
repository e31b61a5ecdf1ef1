"""Appointment reminders: planned once per visit and offset, DST-correct, consent-aware.

The planner takes a controllable clock (``now``); delivery goes through the real relay and
SMTP sink once the reminder falls due ("the clock moved forward": its due time is set to
now with owner SQL).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import text

from saas.actors import SYSTEM
from saas.db import tenant_session
from saas.models import Tenant
from saas.patients import get_patient_in_tenant
from saas.records.consents import record_consent, standing_consent, withdraw_consent
from saas.scheduling.reminders import plan_reminders, send_time
from tests.helpers import text_of
from tests.scheduling.conftest import check
from tests.scheduling.test_lifecycle_api import _move
from tests.scheduling.test_notifications import _mail, _patient_with_email

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def test_a_day_before_is_counted_on_the_clinic_calendar_across_dst():
    """10:00 on the day clocks go forward: reminded at 10:00 the day before (23 real hours)."""
    start = dt.datetime(2027, 3, 28, 10, 0, tzinfo=LONDON)
    assert send_time(start, 1440, LONDON) == dt.datetime(2027, 3, 27, 10, 0, tzinfo=UTC)
    assert send_time(start, 120, LONDON) == dt.datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    autumn = dt.datetime(2027, 10, 31, 10, 0, tzinfo=LONDON)  # clocks went back: 25 hours
    assert send_time(autumn, 1440, LONDON) == dt.datetime(2027, 10, 30, 9, 0, tzinfo=UTC)


def _plan(app, clinic_id, now):
    with app.app_context(), tenant_session(clinic_id) as sess:
        return plan_reminders(sess, sess.get(Tenant, clinic_id), now)


def _reminders(sql, clinic_id):
    return sql(
        "SELECT payload->>'offset_minutes', next_attempt_at, state, skip_reason, delivery_key"
        " FROM outbox WHERE tenant_id = %s AND topic = 'appointment.reminder'"
        " ORDER BY created_at, (payload->>'offset_minutes')::int DESC",
        clinic_id,
    )


def _consent(app, clinic_id, *, withdraw=False):
    with app.app_context(), tenant_session(clinic_id) as sess:
        tenant = sess.get(Tenant, clinic_id)
        pid = sess.execute(
            text("SELECT id FROM patients WHERE tenant_id = :t ORDER BY created_at DESC LIMIT 1"),
            {"t": clinic_id},
        ).scalar()
        patient = get_patient_in_tenant(sess, tenant, pid)
        if withdraw:
            consent = standing_consent(sess, clinic_id, pid, "reminders_email")
            withdraw_consent(sess, tenant, consent, channel="portal", actor=SYSTEM)
        else:
            record_consent(
                sess,
                tenant,
                patient,
                purpose="reminders_email",
                text_version="v1",
                channel="portal",
                actor=SYSTEM,
            )


def _fall_due(sql, clinic_id):
    sql(
        "UPDATE outbox SET next_attempt_at = now() WHERE tenant_id = %s"
        " AND topic = 'appointment.reminder' AND state = 'queued'",
        clinic_id,
    )


def _relay(app, sql, clinic_id):
    """Relay until no reminder waits (a running worker may hold the clinic's relay).

    A row a worker has claimed (``sending``) is waited for too: a worker claims several
    due rows at once and records them one by one.
    """
    from workers.outbox import relay

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with app.app_context():
            relay(str(clinic_id))
        waiting = sql(
            "SELECT count(*) FROM outbox WHERE tenant_id = %s AND (state = 'sending'"
            " OR (state = 'queued' AND next_attempt_at <= now()))",
            clinic_id,
        )
        if waiting == [(0,)]:
            return
        time.sleep(0.1)
    raise AssertionError("reminders still waiting")


def test_planned_across_dst_once_and_after_downtime_only_what_is_useful(app, make_practice, sql):
    p = make_practice("Europe/London")
    email = f"dst-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    visit = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token), 201
    )
    start = dt.datetime(2027, 3, 28, 10, 0, tzinfo=LONDON)
    _move(sql, visit["id"], start)
    # the scheduler was down from before the day-before reminder until 22:00 UTC that day:
    # the 24 h reminder (10:00 UTC, useful until 21:30) is past, the 2 h one still useful
    assert _plan(app, p.clinic.id, dt.datetime(2027, 3, 27, 22, 0, tzinfo=UTC)) == 1
    assert [(o, due) for o, due, *_ in _reminders(sql, p.clinic.id)] == [
        ("120", dt.datetime(2027, 3, 28, 7, 0, tzinfo=UTC))
    ]
    # planned in time, it writes the 24 h one at 10:00 the day before (23 real hours)
    assert _plan(app, p.clinic.id, dt.datetime(2027, 3, 26, 12, 0, tzinfo=UTC)) == 1
    assert _plan(app, p.clinic.id, dt.datetime(2027, 3, 26, 12, 5, tzinfo=UTC)) == 0  # once
    due = {o: d for o, d, *_ in _reminders(sql, p.clinic.id)}
    assert due == {
        "1440": dt.datetime(2027, 3, 27, 10, 0, tzinfo=UTC),
        "120": dt.datetime(2027, 3, 28, 7, 0, tzinfo=UTC),
    }


def test_reminders_are_sent_with_policy_and_link_skipped_without_consent_or_when_moved(
    app, make_practice, worker, mail_dir, sql
):
    p = make_practice("Europe/London", rules={"late_cancellation_fee_minor": 2500})
    email = f"remind-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    day = p.day(3)
    visit = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201
    )
    start = dt.datetime.fromisoformat(visit["start"])
    now = start - dt.timedelta(days=2)
    # no consent yet: both reminders are skipped with the reason
    assert _plan(app, p.clinic.id, now) == 2
    _fall_due(sql, p.clinic.id)
    _relay(app, sql, p.clinic.id)
    assert {(s, r) for _, _, s, r, _ in _reminders(sql, p.clinic.id)} == {("skipped", "no consent")}
    # consent given, visit moved: new reminders for the new time; the old ones never again
    _consent(app, p.clinic.id)
    check(
        p.owner.post(
            f"/api/v1/appointments/{visit['id']}/reschedule",
            {"start": p.at(day, "12:00").isoformat()},
            token=token,
        ),
        200,
    )
    assert _plan(app, p.clinic.id, now) == 2
    _fall_due(sql, p.clinic.id)
    _relay(app, sql, p.clinic.id)
    rows = _reminders(sql, p.clinic.id)
    assert [s for _, _, s, _, _ in rows] == ["skipped", "skipped", "sent", "sent"]
    assert len({k for *_, k in rows}) == 4
    mails = [m for m in _mail(mail_dir, email, 4) if m["Subject"].strip().startswith("Reminder:")]
    assert len(mails) == 2
    body = text_of(mails[0])
    assert "12:00 (Europe/London)" in body and "24 hours before it starts" in body
    assert "Later cancellations cost £25." in body and f"/appointments/{visit['id']}" in body
    # cancelled: a reminder planned before the cancel is skipped, no new one is planned
    sql(
        "UPDATE outbox SET state = 'queued', dispatched_at = NULL, next_attempt_at = now()"
        " WHERE tenant_id = %s AND topic = 'appointment.reminder' AND state = 'sent'"
        " AND payload->>'offset_minutes' = '120'",
        p.clinic.id,
    )
    check(p.owner.post(f"/api/v1/appointments/{visit['id']}/cancel", {}, token=token), 200)
    assert _plan(app, p.clinic.id, now) == 0
    _relay(app, sql, p.clinic.id)
    assert ("skipped", "visit cancelled") in {
        (s, r) for _, _, s, r, _ in _reminders(sql, p.clinic.id)
    }


def test_withdrawn_consent_skips_the_reminder(app, make_practice, sql):
    p = make_practice("Europe/London")
    email = f"wd-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    visit = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token), 201
    )
    _consent(app, p.clinic.id)
    _consent(app, p.clinic.id, withdraw=True)
    assert (
        _plan(app, p.clinic.id, dt.datetime.fromisoformat(visit["start"]) - dt.timedelta(days=2))
        == 2
    )
    _fall_due(sql, p.clinic.id)
    _relay(app, sql, p.clinic.id)
    assert {(s, r) for _, _, s, r, _ in _reminders(sql, p.clinic.id)} == {("skipped", "no consent")}


def test_clinics_set_their_own_reminder_times(app, two_clinics, client, sql):
    """``/settings/reminders``: defaults 24 h and 2 h; bad values name the field; A ≠ B."""
    from tests.helpers import bearer

    (a, token_a), (b, token_b) = two_clinics
    url, host = "/api/v1/settings/reminders", f"http://{a.host}"
    got = client.get(url, headers=bearer(token_a), base_url=host).get_json()
    assert got == {"offsets_minutes": [1440, 120]}
    bad = client.patch(url, json={"offsets_minutes": [5]}, headers=bearer(token_a), base_url=host)
    assert bad.status_code == 422 and "offsets_minutes" in bad.get_data(as_text=True)
    twice = client.patch(
        url, json={"offsets_minutes": [60, 60]}, headers=bearer(token_a), base_url=host
    )
    assert twice.status_code == 422 and "offsets_minutes" in twice.get_data(as_text=True)
    ok = client.patch(
        url, json={"offsets_minutes": [2880, 60]}, headers=bearer(token_a), base_url=host
    )
    assert ok.status_code == 200 and ok.get_json() == {"offsets_minutes": [2880, 60]}
    assert (
        client.patch(
            url,
            json={"offsets_minutes": [30]},
            headers=bearer(token_a),
            base_url=f"http://{b.host}",
        ).status_code
        == 401
    )
    other = client.get(url, headers=bearer(token_b), base_url=f"http://{b.host}").get_json()
    assert other == {"offsets_minutes": [1440, 120]}
    with app.app_context(), tenant_session(a.id) as sess:
        from saas.scheduling.reminders import offsets

        assert offsets(sess.get(Tenant, a.id)) == [2880, 60]
    audit = sql(
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'practice.reminders_set'",
        a.id,
    )
    assert audit == [(1,)]
