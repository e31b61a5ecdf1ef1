"""Profile: contact details, consents given and withdrawn, requests about my data."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories.base import clinic_session
from tests.helpers import csrf_from
from tests.portal.conftest import get


def _post(c, clinic, path, data=None):
    page = get(c, clinic, "/profile")
    return c.post(
        path,
        data={**(data or {}), "csrf_token": csrf_from(page.data)},
        base_url=f"http://{clinic.host}",
    )


def test_contact_details_are_saved_sealed(app, practice, signed_in, patient):
    """Name and phone change through the records service; the phone stays sealed."""
    from saas.models import Patient
    from saas.patients import read_sealed

    resp = _post(
        signed_in, practice.clinic, "/profile", {"full_name": "Maria S.", "phone": "+49 30 555"}
    )
    assert resp.status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        row = sess.get(Patient, (practice.clinic.id, patient.id))
        assert row.full_name == "Maria S." and read_sealed(sess, row, "phone") == "+49 30 555"
        assert b"+49 30 555" not in bytes(row.phone)
    empty = _post(signed_in, practice.clinic, "/profile", {"full_name": "", "phone": ""})
    assert empty.status_code == 422 and b"Enter your full name." in empty.data


def test_consent_given_then_withdrawn(app, practice, signed_in, patient):
    """Giving and withdrawing a consent is recorded (and reminders follow it)."""
    from saas.records.consents import has_consent

    assert (
        _post(
            signed_in, practice.clinic, "/profile/consents/reminders_email", {"give": "1"}
        ).status_code
        == 302
    )
    with clinic_session(app, practice.clinic.id) as sess:
        assert has_consent(sess, practice.clinic.id, patient.id, "reminders_email")
    assert "You agreed." in get(signed_in, practice.clinic, "/profile").data.decode()
    assert _post(signed_in, practice.clinic, "/profile/consents/reminders_email").status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        assert not has_consent(sess, practice.clinic.id, patient.id, "reminders_email")
    assert (
        _post(signed_in, practice.clinic, "/profile/consents/treatment", {"give": "1"}).status_code
        == 404
    )


def test_data_requests_reach_the_clinic_and_the_audit_log(app, practice, signed_in, patient):
    """A copy or a deletion request is audited and emailed to the clinic, no values in it."""
    from saas.models import AuditEntry, OutboxMessage

    page = get(signed_in, practice.clinic, "/profile").data.decode()
    assert "What is kept after a deletion" in page
    for kind in ("export", "erasure"):
        assert _post(signed_in, practice.clinic, f"/profile/data/{kind}").status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        actions = set(
            sess.scalars(
                select(AuditEntry.action).where(AuditEntry.target == f"patient:{patient.id}")
            )
        )
        assert {"patient.export_requested", "patient.erasure_requested"} <= actions
        topics = list(
            sess.scalars(
                select(OutboxMessage.topic).where(OutboxMessage.topic.like("email.patient.%"))
            )
        )
        assert {"email.patient.export_requested", "email.patient.erasure_requested"} <= set(topics)
    assert _post(signed_in, practice.clinic, "/profile/data/everything").status_code == 404


def test_password_change_emails_a_link(app, practice, signed_in, patient):
    """The profile's password button sends a one-time link to the patient's own address."""
    from saas.models import OutboxMessage

    assert _post(signed_in, practice.clinic, "/profile/password").status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        sent = sess.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "email.verify_patient")
        ).all()
    assert [m.payload["to"] for m in sent] == [patient.email]
