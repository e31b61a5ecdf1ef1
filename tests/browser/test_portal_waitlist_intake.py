"""On a phone and on a desktop: the waitlist to a booked visit, and the intake questionnaire.

A patient joins the waitlist for a full day in the browser; a cancellation frees a time, the
real worker delivers the offer email to the embedded SMTP sink, and its link books the time
in one step. A new patient answers the clinic's intake questions on the review page before
the first visit; the answers are stored sealed. axe-core finds no serious or critical
problem on any page passed through, and nothing scrolls sideways at 360 px.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from saas.devmail import read_messages
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import drain, text_of

from .test_portal_flow import VIEWPORTS, Checked, _appointments

pytestmark = pytest.mark.browser
OFFER_RE = re.compile(r"https?://\S+/book/offer/[0-9a-f-]+")
QUESTIONS = ["What brings you to us?", "Do you take any medicines?"]


def _offer_link(mail_dir, to: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in read_messages(mail_dir):
            if msg["To"] == to and (m := OFFER_RE.search(text_of(msg))):
                assert msg["Subject"].startswith("A time is free at ")
                return m.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no waitlist offer to {to}")


def _signed_in(new_page, live_server, slug, patient, viewport):
    pg = new_page(viewport)
    pg.context.add_cookies(
        [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
    )
    return pg


@pytest.mark.parametrize("width", ["360", "1280"])
def test_waitlist_join_then_book_from_the_offer_email(
    app, live_server, new_page, worker, mail_dir, screenshot, width
):
    """Joined in the browser; the offer email's link opens the review of the freed time."""
    practice = PracticeFactory()
    slug, day = practice.clinic.slug, practice.day(4)
    taken = {}
    for hhmm in ("09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"):
        taken[hhmm] = AppointmentFactory(practice=practice, start=practice.at(day, hhmm))
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    pg = _signed_in(new_page, live_server, slug, patient, VIEWPORTS[width])
    check = Checked(pg, width)
    pg.goto(live_server.url(slug, "/appointments"))
    check()
    pg.get_by_role("link", name="Join the waitlist").click()
    check()
    pg.get_by_label("Visit type").select_option(label="Follow-up consultation")
    pg.get_by_label("Practitioner").select_option(label="Dr. Anna Weber")
    pg.get_by_label("From").fill(day.isoformat())
    pg.get_by_label("Until").fill(day.isoformat())
    pg.get_by_role("button", name="Join the waitlist").click()
    expect(pg.get_by_text("You are on the waitlist.")).to_be_visible()
    expect(pg.get_by_role("heading", name="On the waitlist")).to_be_visible()
    check()
    screenshot(pg, f"portal-waitlist-joined-{width}")
    # the clinic cancels the 11:00 visit: the freed time is offered by email
    resp = practice.owner.post(
        f"/api/v1/appointments/{taken['11:00'].id}/cancel", {"reason": "Patient called in sick"}
    )
    assert resp.status_code == 200, resp.get_json()
    drain(worker, "scheduling")
    # the worker's app names the default port: the same path on the live server
    link = urlsplit(_offer_link(mail_dir, patient.email))
    pg.goto(live_server.url(slug, link.path))
    expect(pg.get_by_role("heading", name="Review your booking")).to_be_visible()
    check()
    pg.get_by_label("I have read the cancellation policy above.").check()
    pg.get_by_role("button", name="Confirm booking").click()
    expect(pg.get_by_text("Your visit is booked.")).to_be_visible()
    check()
    screenshot(pg, f"portal-waitlist-booked-{width}")
    from sqlalchemy import select

    from saas.scheduling.models import Appointment

    with clinic_session(app, practice.clinic.id) as sess:
        mine = sess.execute(
            select(Appointment.status, Appointment.start_at).where(
                Appointment.patient_id == patient.id
            )
        ).all()
    assert [tuple(r) for r in mine] == [("confirmed", practice.at(day, "11:00"))]
    assert not check.found, check.found


@pytest.mark.parametrize("width", ["360", "1280"])
def test_intake_questions_answered_before_the_first_visit(
    app, live_server, new_page, owner_dsn, screenshot, width
):
    """The clinic's questions are on the review page; the answers are stored sealed."""
    import psycopg

    practice = PracticeFactory()
    resp = practice.owner.patch("/api/v1/settings/intake", {"questions": QUESTIONS})
    assert resp.status_code == 200, resp.get_json()
    slug, day = practice.clinic.slug, practice.day(3)
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    pg = _signed_in(new_page, live_server, slug, patient, VIEWPORTS[width])
    check = Checked(pg, width)
    pg.goto(
        live_server.url(
            slug,
            f"/book?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}"
            f"&date={day.isoformat()}",
        )
    )
    check()
    pg.get_by_role("link", name=re.compile(r"^10:00")).click()
    expect(pg.get_by_role("heading", name="Before your first visit")).to_be_visible()
    check()
    pg.get_by_label("What brings you to us?").fill("Migraine since May")
    pg.get_by_label("Do you take any medicines?").fill("None")
    screenshot(pg, f"portal-intake-review-{width}")
    pg.get_by_label("I have read the cancellation policy above.").check()
    pg.get_by_role("button", name="Confirm booking").click()
    expect(pg.get_by_text("Your visit is booked.")).to_be_visible()
    check()
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "10:00"))]
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT answers_enc FROM intake_responses WHERE patient_id = %s", (patient.id,)
        ).fetchall()
    assert len(rows) == 1 and b"Migraine" not in bytes(rows[0][0])
    assert not check.found, check.found
