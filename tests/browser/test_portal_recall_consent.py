"""On a phone (360x740): the follow-up recall email's link books; a consent is withdrawn.

The recall email is the real one (``invite_due_follow_ups`` writes it, the worker delivers it
to the embedded SMTP sink); its link is followed as the patient would, on the live server.
axe reports no serious or critical problem on the pages the patient passes through.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from saas.devmail import read_messages
from tests.factories import PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import drain, text_of
from tests.records.conftest import CASE

from .test_console_a11y import _violations
from .test_portal_flow import PHONE, _appointments, _no_horizontal_scroll

pytestmark = pytest.mark.browser
BOOK_RE = re.compile(r"https?://\S+/book\?\S+")


def _recall_link(mail_dir, to: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in read_messages(mail_dir):
            if msg["To"] == to and (m := BOOK_RE.search(text_of(msg))):
                return m.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no recall email to {to}")


def _signed_in(new_page, live_server, slug, patient):
    pg = new_page(PHONE)
    pg.context.add_cookies(
        [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
    )
    return pg


def test_recall_link_opens_the_booking_prefilled_and_books(
    app, live_server, new_page, worker, mail_dir
):
    """Visit type, practitioner and window come from the link; the patient books in it."""
    from saas.models import Tenant, User
    from saas.records.followups import invite_due_follow_ups

    practice = PracticeFactory()
    owner, slug = practice.owner, practice.clinic.slug
    with clinic_session(app, practice.clinic.id) as sess:
        owner_id = sess.scalar(select(User.id).where(User.role == "owner"))
    # the owner prescribes and sees patients as Dr. Anna Weber
    resp = owner.patch(
        f"/api/v1/practice/practitioners/{practice.practitioner_id}", {"user_id": str(owner_id)}
    )
    assert resp.status_code == 200, resp.get_json()
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    consent = {"purpose": "reminders_email", "text_version": "2026-01", "channel": "in_person"}
    assert owner.post(f"/api/v1/patients/{patient.id}/consents", consent).status_code == 201
    visit = owner.post(
        f"/api/v1/patients/{patient.id}/visits",
        {
            "kind": "initial",
            "visit_date": (dt.date.today() - dt.timedelta(days=25)).isoformat(),
            "note": CASE,
        },
    )
    assert visit.status_code == 201, visit.get_json()
    rx = owner.post(
        f"/api/v1/visits/{visit.get_json()['id']}/prescriptions",
        {
            "remedy": "Pulsatilla",
            "potency": "30C",
            "follow_up_from_days": 28,
            "follow_up_to_days": 42,
            "follow_up_service_id": practice.service_id,
        },
    )
    assert rx.status_code == 201, rx.get_json()
    with clinic_session(app, practice.clinic.id) as sess:
        assert invite_due_follow_ups(sess, sess.get(Tenant, practice.clinic.id)) == 1
    drain(worker, "records", "scheduling")
    link = urlsplit(_recall_link(mail_dir, patient.email))
    query = parse_qs(link.query)
    assert query["service_id"] == [str(practice.service_id)]
    assert query["practitioner_id"] == [str(practice.practitioner_id)]
    window_from = dt.date.fromisoformat(query["from"][0])

    pg = _signed_in(new_page, live_server, slug, patient)
    pg.goto(live_server.url(slug, f"{link.path}?{link.query}"))
    # straight to the month of the window, visit type and practitioner already chosen
    expect(pg.get_by_role("heading", name="Choose a day")).to_be_visible()
    expect(pg.get_by_text("Follow-up consultation").first).to_be_visible()
    expect(pg.get_by_text("Dr. Anna Weber").first).to_be_visible()
    assert not (found := _violations(pg)), found
    _no_horizontal_scroll(pg)
    day = max(window_from, practice.day(1))
    day_link = pg.locator(f'a.day.free[href*="date={day.isoformat()}"]')
    if day_link.count() == 0:
        pg.get_by_role("link", name="Next month").click()
    day_link.click()
    pg.get_by_role("link", name=re.compile(r"^10:00")).click()
    expect(pg.get_by_role("heading", name="Review your booking")).to_be_visible()
    assert not (found := _violations(pg)), found
    pg.get_by_label("I have read the cancellation policy above.").check()
    pg.get_by_role("button", name="Confirm booking").click()
    expect(pg.get_by_text("Your visit is booked.")).to_be_visible()
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "10:00"))]


def test_consent_withdrawn_on_the_profile_page(app, live_server, new_page):
    """A standing consent is withdrawn with one button; the page and the record say so."""
    from saas.records.models import Consent

    practice = PracticeFactory()
    slug = practice.clinic.slug
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    consent = {"purpose": "reminders_email", "text_version": "2026-01", "channel": "in_person"}
    resp = practice.owner.post(f"/api/v1/patients/{patient.id}/consents", consent)
    assert resp.status_code == 201
    pg = _signed_in(new_page, live_server, slug, patient)
    pg.goto(live_server.url(slug, "/profile"))
    text = "Send me appointment reminders and follow-up invitations by email."
    item = pg.locator("li.consent", has_text=text)
    expect(item.get_by_text("You agreed.")).to_be_visible()
    assert not (found := _violations(pg)), found
    _no_horizontal_scroll(pg)
    item.get_by_role("button", name=re.compile("^Withdraw")).click()
    expect(pg.get_by_text("Your consent is withdrawn.")).to_be_visible()
    expect(
        pg.locator("li.consent", has_text=text).get_by_text("You have not agreed.")
    ).to_be_visible()
    assert not (found := _violations(pg)), found
    with clinic_session(app, practice.clinic.id) as sess:
        rows = sess.execute(
            select(Consent.purpose, Consent.withdrawn_at, Consent.withdrawn_channel).where(
                Consent.patient_id == patient.id
            )
        ).all()
    assert [(p, w is not None, ch) for p, w, ch in rows] == [("reminders_email", True, "portal")]
