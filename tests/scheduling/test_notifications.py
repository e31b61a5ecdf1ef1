"""Patients get an email when their booking is confirmed, moved or cancelled."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import psycopg

from saas.devmail import read_messages
from tests.helpers import text_of
from tests.scheduling.conftest import check


def _patient_with_email(app, clinic, email):
    from saas.db import tenant_session
    from saas.models import PatientToken, Tenant, utcnow
    from saas.patients import TOKEN_PREFIX, create_patient
    from saas.security.secrets import digest, new_token

    plain = TOKEN_PREFIX + new_token()
    with app.app_context(), tenant_session(clinic.id) as sess:
        tenant = sess.get(Tenant, clinic.id)
        patient = create_patient(sess, tenant, full_name="Meera Nair", email=email)
        sess.add(
            PatientToken(
                id=uuid.uuid4(),
                tenant_id=clinic.id,
                patient_id=patient.id,
                purpose="session",
                token_hash=digest(plain),
                expires_at=utcnow() + dt.timedelta(days=1),
            )
        )
    return plain


def _mail(mail_dir, to, count, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = [m for m in read_messages(mail_dir) if m["To"] == to]
        if len(msgs) >= count:
            return msgs
        time.sleep(0.1)
    raise AssertionError(f"expected {count} emails to {to}")


def test_booking_reschedule_and_cancel_are_emailed(app, make_practice, worker, mail_dir, owner_dsn):
    """Each message names the visit in the clinic's local time; no address sits in the outbox."""
    p = make_practice("Asia/Kolkata")
    email = f"meera-{p.clinic.slug}@example.org"
    token = _patient_with_email(app, p.clinic, email)
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
    check(p.owner.post(f"/api/v1/appointments/{appt['id']}/cancel", {}, token=token), 200)
    # one relay per clinic at a time: the patient hears about it in the order it happened
    booked, moved, cancelled = _mail(mail_dir, email, 3)
    assert [m["Subject"].strip().split(":")[0] for m in (booked, moved, cancelled)] == [
        "Confirmed",
        "Moved",
        "Cancelled",
    ]
    assert booked["Subject"].strip().startswith("Confirmed: Follow-up consultation")
    assert "10:00 (Asia/Kolkata)" in text_of(booked) and "Dr. Anna Weber" in text_of(booked)
    assert "Hello Meera Nair" in text_of(booked)
    assert "12:00 (Asia/Kolkata)" in text_of(moved)
    assert "Previously: " in text_of(moved) and "10:00" in text_of(moved)
    assert "This consultation is cancelled." in text_of(cancelled)
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT payload::text, dispatched_at IS NOT NULL FROM outbox WHERE tenant_id = %s AND topic LIKE 'appointment.%%'",
            (p.clinic.id,),
        ).fetchall()
    assert len(rows) == 3 and all(sent for _, sent in rows)
    assert not any(email in payload for payload, _ in rows)


def test_patient_without_email_is_skipped_quietly(
    app, make_practice, make_patient, worker, owner_dsn
):
    """A booking for a patient with no address is marked handled, not retried forever."""
    p = make_practice("Europe/London")
    pat = make_patient(p.clinic)
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(2), "10:00")), token=pat.token),
        201,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with psycopg.connect(owner_dsn) as conn:
            row = conn.execute(
                "SELECT dispatched_at IS NOT NULL, attempts FROM outbox WHERE tenant_id = %s AND topic = 'appointment.confirmed'",
                (p.clinic.id,),
            ).fetchone()
        if row and row[0]:
            break
        time.sleep(0.1)
    assert row == (True, 1)
