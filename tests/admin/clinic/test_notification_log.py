"""The notification log: what was sent to whom (name or masked address), channel, state.

Messages are written by the real verbs (a booking) and :func:`saas.outbox.emit`; the
delivery state is set as the relay would leave it (owner SQL).
"""

from __future__ import annotations

import psycopg
import pytest

from saas import outbox
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session

from .console import Console


def test_the_log_names_recipients_masks_addresses_and_shows_state(app, owner_dsn):
    practice = PracticeFactory()
    # the states below are set as the relay would leave them: a running worker must not
    # deliver these messages meanwhile, so this test holds the clinic's relay lock
    relay_lock = psycopg.connect(owner_dsn)
    relay_lock.execute(
        "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"outbox-relay:{practice.clinic.id}",)
    )
    patient = PatientFactory(clinic=practice.clinic, full_name="Olga Brandt")
    AppointmentFactory(practice=practice, patient=patient, by_staff=True)
    with clinic_session(app, practice.clinic.id) as sess:
        outbox.emit(
            sess,
            practice.clinic.id,
            "email.sign_in_link",
            {"to": "maria@example.com", "subject": "Your link", "body": "SECRET-LINK-123"},
        )
        outbox.emit(sess, practice.clinic.id, "job.something", {"x": 1})
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE outbox SET dispatched_at = NULL, attempts = 2"
            " WHERE tenant_id = %s AND topic = 'email.sign_in_link'",
            (practice.clinic.id,),
        )
        conn.execute(
            "UPDATE outbox SET dispatched_at = now() WHERE tenant_id = %s"
            " AND topic = 'appointment.confirmed'",
            (practice.clinic.id,),
        )
    other = PracticeFactory()
    AppointmentFactory(
        practice=other,
        patient=PatientFactory(clinic=other.clinic, full_name="Someone Elsewhere"),
        by_staff=True,
    )
    owner = Console(app, practice.clinic)
    page = owner.text("/console/notifications/")
    assert "Booking confirmed" in page and "Patient Olga Brandt" in page
    assert "Sent to the mail server" in page
    assert "Sign-in link" in page and "m•••@example.com" in page
    assert "Retrying (2 attempts)" in page
    assert "maria@" not in page and "SECRET-LINK" not in page and "Your link" not in page
    assert "job." not in page and "something" not in page
    relay_lock.close()
    assert "Someone Elsewhere" not in page
    assert "<td>Email</td>" in page
    retrying = owner.text("/console/notifications/?state=retrying")
    assert "Sign-in link" in retrying and "Booking confirmed" not in retrying
    sent = owner.text("/console/notifications/?state=sent")
    assert "Booking confirmed" in sent and "Sign-in link" not in sent
    assert owner.get("/console/notifications/?state=bogus").status_code == 404


@pytest.mark.parametrize(
    "role,status", [("admin", 200), ("practitioner", 403), ("receptionist", 403)]
)
def test_roles(app, role, status):
    practice = PracticeFactory()
    assert Console(app, practice.clinic, role).get("/console/notifications/").status_code == status


def test_the_log_shows_delivery_states_with_reasons_and_errors(app, owner_dsn):
    """Skipped messages say why; failed ones their attempts, last error and next try."""
    practice = PracticeFactory()
    with clinic_session(app, practice.clinic.id) as sess:
        for n in range(3):
            outbox.emit(
                sess,
                practice.clinic.id,
                "email.password_reset",
                {"to": f"r{n}@example.com", "subject": "s", "body": "b"},
            )
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM outbox WHERE tenant_id = %s AND topic = 'email.password_reset'"
                " ORDER BY payload->>'to'",
                (practice.clinic.id,),
            )
        ]
        updates = [
            "state = 'skipped', skip_reason = 'no consent', dispatched_at = now()",
            "state = 'dead', dispatched_at = NULL, attempts = 8, last_error = 'SMTPRecipientsRefused 550'",
            "state = 'failed', dispatched_at = NULL, attempts = 3, last_error = 'ConnectionRefusedError',"
            " next_attempt_at = now() + interval '1 hour'",
        ]
        for row_id, values in zip(ids, updates, strict=True):
            conn.execute(f"UPDATE outbox SET {values} WHERE id = %s", (row_id,))  # noqa: S608
    owner = Console(app, practice.clinic)
    page = owner.text("/console/notifications/")
    assert "Not sent: no consent" in page
    assert "Failed, not retried (8 attempts; last error: SMTPRecipientsRefused 550)" in page
    assert "Retrying (3 attempts; last error: ConnectionRefusedError; next try" in page
    skipped = owner.text("/console/notifications/?state=skipped")
    assert "no consent" in skipped and "ConnectionRefusedError" not in skipped
    dead = owner.text("/console/notifications/?state=dead")
    assert "SMTPRecipientsRefused" in dead and "no consent" not in dead
