"""The intake questionnaire: asked before a first visit, answers sealed, read by clinicians."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select

from saas.exceptions import Forbidden
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory, StaffFactory
from tests.factories.base import clinic_session
from tests.helpers import csrf_from
from tests.portal.conftest import get, portal_client
from tests.portal.test_booking_pages import review_path

QUESTIONS = ["What brings you to us?", "Do you take any medicines?"]


def _book(c, practice, start, answers: dict):
    page = get(c, practice.clinic, review_path(practice, start))
    assert page.status_code == 200
    resp = c.post(
        "/book/review",
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
            **answers,
        },
        base_url=f"http://{practice.clinic.host}",
    )
    return page.data.decode(), resp


def test_first_visit_asks_the_clinics_questions_and_seals_the_answers(app, owner_dsn):
    """The answers are stored sealed, with the questions; a clinician reads them back."""
    from saas.models import Patient, Tenant, User
    from saas.records.intake import intake_for_patient
    from saas.records.models import IntakeResponse

    practice = PracticeFactory()
    resp = practice.owner.patch("/api/v1/settings/intake", {"questions": QUESTIONS})
    assert resp.status_code == 200
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    c = portal_client(app, practice.clinic, patient.token)
    first = {"answer_0": "Migraine since May", "answer_1": ""}
    page, resp = _book(c, practice, practice.at(practice.day(3), "10:00"), first)
    assert "Before your first visit" in page and "What brings you to us?" in page
    assert resp.status_code == 302
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        (blob,) = conn.execute(
            "SELECT answers_enc FROM intake_responses WHERE patient_id = %s", (patient.id,)
        ).fetchone()
    assert b"Migraine" not in bytes(blob)
    doc = StaffFactory(clinic=practice.clinic, role="practitioner")
    desk = StaffFactory(clinic=practice.clinic, role="receptionist")
    with clinic_session(app, practice.clinic.id) as sess:
        tenant = sess.get(Tenant, practice.clinic.id)
        record = sess.get(Patient, (tenant.id, patient.id))
        (answers,) = intake_for_patient(sess, tenant, sess.get(User, (tenant.id, doc.id)), record)
        assert answers["answers"] == [
            {"question": QUESTIONS[0], "answer": "Migraine since May"},
            {"question": QUESTIONS[1], "answer": ""},
        ]
        with pytest.raises(Forbidden):
            intake_for_patient(sess, tenant, sess.get(User, (tenant.id, desk.id)), record)
        assert sess.scalar(select(IntakeResponse.appointment_id)) is not None
    # a second booking does not ask again
    page, resp = _book(c, practice, practice.at(practice.day(4), "10:00"), {})
    assert "Before your first visit" not in page and resp.status_code == 302


def test_returning_patient_and_a_clinic_without_questions_are_not_asked(app):
    """No questions configured, or a returning patient: no questionnaire."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    c = portal_client(app, practice.clinic, patient.token)
    path = review_path(practice, practice.at(practice.day(3), "10:00"))
    assert "Before your first visit" not in get(c, practice.clinic, path).data.decode()
    practice.owner.patch("/api/v1/settings/intake", {"questions": QUESTIONS})
    AppointmentFactory(
        practice=practice, patient=patient, start=practice.at(practice.day(2), "09:00")
    )
    assert "Before your first visit" not in get(c, practice.clinic, path).data.decode()


def test_intake_questions_are_validated(app):
    """More than 20 questions, or an empty one, is refused and changes nothing."""
    practice = PracticeFactory()
    too_many = practice.owner.patch("/api/v1/settings/intake", {"questions": ["Q?"] * 21})
    empty = practice.owner.patch("/api/v1/settings/intake", {"questions": [""]})
    assert too_many.status_code == 422 and empty.status_code == 422
    assert practice.owner.get("/api/v1/settings/intake").get_json() == {"questions": []}
