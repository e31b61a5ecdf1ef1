"""Patients get their emails in their language; refusals and the closing page follow the portal's.

The language is the one the patient used on the portal (``patients.preferred_language``,
set at registration and by the language switch while signed in), else the clinic's default
(``branding.language``). Every assertion reads the real email the worker delivered to the
embedded SMTP sink.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from saas.devmail import read_messages
from tests.client import new_client
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import drain, post_form
from tests.portal.conftest import get, portal_client
from tests.portal.test_booking_pages import body_of
from tests.portal.test_data_export import _ready


def _mails(mail_dir, to: str, count: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in read_messages(mail_dir) if m["To"] == to]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} emails to {to} expected: {[m['Subject'] for m in found]}")


def _language_of(app, clinic, patient_id) -> str | None:
    from saas.models import Patient

    with clinic_session(app, clinic.id) as sess:
        return sess.scalar(select(Patient.preferred_language).where(Patient.id == patient_id))


def _set_language(app, clinic, patient_id, value: str | None) -> None:
    from saas.models import Patient

    with clinic_session(app, clinic.id) as sess:
        sess.get(Patient, (clinic.id, patient_id)).preferred_language = value


def _unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.org"


def test_registration_email_in_the_language_of_the_page(app, worker, mail_dir):
    """Registering on the German page: German email, and German is remembered."""
    from saas.models import Patient

    practice = PracticeFactory()
    host = practice.clinic.host
    german, english = _unique("de"), _unique("en")
    post_form(new_client(app), "/register?lang=de", host, {"full_name": "Lena", "email": german})
    post_form(new_client(app), "/register", host, {"full_name": "Liam", "email": english})
    drain(worker)
    (de,) = _mails(mail_dir, german, 1)
    (en,) = _mails(mail_dir, english, 1)
    assert de["Subject"] == f"Wählen Sie Ihr Passwort für {practice.clinic.name}"
    text = body_of(de)
    assert text.startswith("Hallo Lena,") and "innerhalb von zwei Tagen" in text
    assert "/verify-email?token=" in text
    assert en["Subject"] == f"Choose your password for {practice.clinic.name}"
    assert body_of(en).startswith("Hello Liam,") and "within two days" in body_of(en)
    with clinic_session(app, practice.clinic.id) as sess:
        langs = dict(sess.execute(select(Patient.full_name, Patient.preferred_language)).all())
    assert langs == {"Lena": "de", "Liam": "en"}


def test_visit_emails_in_each_patients_language(app, worker, mail_dir):
    """Confirmation, new time and cancellation: German for one patient, English for another."""
    practice = PracticeFactory()
    day = practice.day(3)
    people = {}
    for lang, hhmm in (("de", "10:00"), ("en", "12:00")):
        patient = PatientFactory(clinic=practice.clinic, email=_unique(lang), portal_token=True)
        _set_language(app, practice.clinic, patient.id, lang)
        visit = AppointmentFactory(practice=practice, patient=patient, start=practice.at(day, hhmm))
        later = practice.at(day, "14:00" if lang == "de" else "16:00")
        moved = practice.owner.post(
            f"/api/v1/appointments/{visit.id}/reschedule",
            {"start": later.isoformat()},
            token=patient.token,
        )
        assert moved.status_code == 200, moved.get_json()
        gone = practice.owner.post(
            f"/api/v1/appointments/{visit.id}/cancel", {}, token=patient.token
        )
        assert gone.status_code == 200, gone.get_json()
        people[lang] = patient
    drain(worker)
    de = _mails(mail_dir, people["de"].email, 3)
    en = _mails(mail_dir, people["en"].email, 3)
    assert [m["Subject"].split(":")[0] for m in de] == ["Bestätigt", "Verlegt", "Storniert"]
    assert [m["Subject"].split(":")[0] for m in en] == ["Confirmed", "Moved", "Cancelled"]
    confirmed = body_of(de[0])
    assert confirmed.startswith("Hallo Maria Schmidt,")
    assert "Ihr Termin ist gebucht." in confirmed and " bei Dr. Anna Weber" in confirmed
    assert "Termin ansehen, verlegen oder stornieren:" in confirmed
    assert "Neue Zeit:" in body_of(de[1]) and "Bisher:" in body_of(de[1])
    assert "Dieser Termin ist storniert." in body_of(de[2])
    assert "Your consultation is booked." in body_of(en[0]) and "Hallo" not in body_of(en[0])
    assert "New time:" in body_of(en[1]) and "This consultation is cancelled." in body_of(en[2])


def test_switching_language_signed_in_sets_the_email_language(app, worker, mail_dir):
    """The footer's switch while signed in: the next sign-in link comes in German."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, email=_unique("switch"), portal_token=True)
    _set_language(app, practice.clinic, patient.id, "en")
    c = portal_client(app, practice.clinic, patient.token)
    assert get(c, practice.clinic, "/appointments?lang=de").status_code == 200
    assert _language_of(app, practice.clinic, patient.id) == "de"
    post_form(new_client(app), "/sign-in/email", practice.clinic.host, {"email": patient.email})
    drain(worker)
    (link,) = _mails(mail_dir, patient.email, 1)
    assert link["Subject"] == f"Ihr Anmeldelink für {practice.clinic.name}"
    assert "innerhalb von 15 Minuten" in body_of(link) and "/sign-in/link?token=" in body_of(link)
    # an anonymous visitor's switch changes nobody's language
    assert get(new_client(app), practice.clinic, "/?lang=en").status_code == 200
    assert _language_of(app, practice.clinic, patient.id) == "de"


def test_without_a_language_of_their_own_the_clinics_default_applies(app, worker, mail_dir):
    """A patient staff added (no language, or one the portal does not speak): the clinic's."""
    practice = PracticeFactory()
    resp = practice.owner.patch("/api/v1/settings/branding", {"language": "de"})
    assert resp.status_code == 200, resp.get_json()
    patient = PatientFactory(clinic=practice.clinic, email=_unique("none"), portal_token=True)
    _set_language(app, practice.clinic, patient.id, "Hindi")
    AppointmentFactory(
        practice=practice, patient=patient, start=practice.at(practice.day(2), "10:00")
    )
    drain(worker)
    (confirmed,) = _mails(mail_dir, patient.email, 1)
    assert confirmed["Subject"].startswith("Bestätigt: ")
    assert body_of(confirmed).startswith("Hallo ")


def test_export_ready_email_in_german(app, worker, mail_dir):
    """The patient's own copy: the ready notice in German, with its link to the profile."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, email=_unique("export"), portal_token=True)
    _set_language(app, practice.clinic, patient.id, "de-AT")
    c = portal_client(app, practice.clinic, patient.token)
    _ready(app, worker, c, practice.clinic)
    (ready,) = _mails(mail_dir, patient.email, 1)
    assert ready["Subject"] == f"Ihre Kopie Ihrer Daten bei {practice.clinic.name} liegt bereit"
    assert "laden Sie sie einmal vor" in body_of(ready) and "/profile#your-data" in body_of(ready)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_refusal_reason_has_the_engines_words_and_a_translation(app, lang):
    """The portal's table covers every reason the engine gives, in its exact English."""
    from portal.refusals import MESSAGES
    from saas import languages
    from saas.scheduling.messages import REFUSALS

    assert set(MESSAGES) == set(REFUSALS)
    with app.test_request_context("/"), languages.force_locale(lang):
        for reason, english in REFUSALS.items():
            shown = str(MESSAGES[reason])
            assert (shown == english) == (lang == "en"), (reason, shown)


def test_refusal_shown_in_german_on_the_visit_page(app):
    """Inside the reschedule cutoff the visit page says why in German."""
    practice = PracticeFactory(rules={"reschedule_cutoff_minutes": 10 * 24 * 60})
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    visit = AppointmentFactory(
        practice=practice, patient=patient, start=practice.at(practice.day(2), "10:00")
    )
    c = portal_client(app, practice.clinic, patient.token)
    page = get(c, practice.clinic, f"/appointments/{visit.id}?lang=de").get_data(as_text=True)
    assert "Für eine Online-Verschiebung ist es zu spät. Bitte rufen Sie die Praxis an." in page
    assert "too late to reschedule" not in page


def test_closing_page_in_the_clinics_language_or_the_patients(app, sql):
    """A closing clinic's portal says so in German (its default), or as the visitor chose."""
    practice = PracticeFactory()
    resp = practice.owner.patch("/api/v1/settings/branding", {"language": "de"})
    assert resp.status_code == 200, resp.get_json()
    english = new_client(app)
    assert get(english, practice.clinic, "/?lang=en").status_code == 200
    sql("UPDATE tenants SET status = 'closing' WHERE id = %s", practice.clinic.id)
    page = get(new_client(app), practice.clinic, "/")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert f"{practice.clinic.name} schließt" in text and '<html lang="de">' in text
    assert "Bitte wenden Sie sich direkt an die Praxis." in text
    again = get(english, practice.clinic, "/").get_data(as_text=True)
    assert f"{practice.clinic.name} is closing" in again and '<html lang="en">' in again
