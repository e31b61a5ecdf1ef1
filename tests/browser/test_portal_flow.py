"""A patient registers, verifies, books, reschedules and cancels on a phone (360x740).

Headless Chromium against the live server: the verification email is read from the
embedded SMTP sink (the real worker delivers it); every step is a plain HTML page, and
the database is checked after each change. Two browser contexts race for the same time:
one is confirmed, the other sees the nearest free times instead of an error.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from saas.devmail import read_messages
from tests.factories import PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import drain, text_of

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
LINK_RE = re.compile(r"https?://\S+/verify-email\?token=\S+")


WORDS = {
    "en": {
        "Book a visit online": "Book a visit online",
        "Next month": "Next month",
        "Sign in": "Sign in",
        "Register to book online": "Register to book online",
        "Full name": "Full name",
        "Email": "Email",
        "Email me a link": "Email me a link",
        "Check your email": "Check your email",
        "Choose a password": "Choose a password",
        "Save password and continue": "Save password and continue",
        "Review your booking": "Review your booking",
        "late-cancellation fee of €30": "late-cancellation fee of €30",
        "Confirm booking": "Confirm booking",
        "There is a problem": "There is a problem",
        "I have read the cancellation policy above.": "I have read the cancellation policy above.",
        "Your visit is booked.": "Your visit is booked.",
        "^Change time": "^Change time",
        "Move to 13:00": "Move to 13:00",
        "Your visit has a new time.": "Your visit has a new time.",
        "^Cancel": "^Cancel",
        "Cancelling now is free of charge.": "Cancelling now is free of charge.",
        "Cancel the visit": "Cancel the visit",
        "Your visit is cancelled.": "Your visit is cancelled.",
    },
    "de": {
        "Book a visit online": "Termin online buchen",
        "Next month": "Nächster Monat",
        "Sign in": "Anmelden",
        "Register to book online": "Registrieren, um online zu buchen",
        "Full name": "Vollständiger Name",
        "Email": "E-Mail",
        "Email me a link": "Link per E-Mail senden",
        "Check your email": "Sehen Sie in Ihr E-Mail-Postfach",
        "Choose a password": "Passwort wählen",
        "Save password and continue": "Passwort speichern und weiter",
        "Review your booking": "Buchung prüfen",
        "late-cancellation fee of €30": "Gebühr für kurzfristige Stornierung von 30,00\xa0€",
        "Confirm booking": "Buchung bestätigen",
        "There is a problem": "Es gibt ein Problem",
        "I have read the cancellation policy above.": "Ich habe die Stornierungsbedingungen oben gelesen.",
        "Your visit is booked.": "Ihr Termin ist gebucht.",
        "^Change time": "^Zeit ändern",
        "Move to 13:00": "Auf 13:00 verlegen",
        "Your visit has a new time.": "Ihr Termin hat eine neue Zeit.",
        "^Cancel": "^Stornieren",
        "Cancelling now is free of charge.": "Eine Stornierung ist jetzt kostenlos.",
        "Cancel the visit": "Termin stornieren",
        "Your visit is cancelled.": "Ihr Termin ist storniert.",
    },
}


def _verify_link(mail_dir, to: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in read_messages(mail_dir):
            if msg["To"] == to and (m := LINK_RE.search(text_of(msg))):
                return m.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no verification email to {to}")


def _appointments(app, clinic_id) -> list[tuple]:
    from sqlalchemy import select

    from saas.scheduling.models import Appointment

    with clinic_session(app, clinic_id) as sess:
        rows = sess.execute(
            select(Appointment.status, Appointment.start_at).order_by(Appointment.created_at)
        ).all()
        return [tuple(r) for r in rows]


def _no_horizontal_scroll(pg) -> None:
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{pg.url} scrolls sideways ({width}px)"


@pytest.mark.parametrize("lang", ["en", "de"])
def test_register_verify_book_reschedule_cancel_on_a_phone(
    app, live_server, new_page, worker, mail_dir, screenshot, lang
):
    """The whole patient path at 360 px, in English and in German, plain forms only."""
    t = WORDS[lang]
    practice = PracticeFactory(
        rules={"cancellation_cutoff_minutes": 1440, "late_cancellation_fee_minor": 3000}
    )
    practice.owner.patch(
        "/api/v1/settings/branding",
        {"brand_color": "#6b2d5c", "tagline": "Classical homeopathy", "phone": "+49 30 1234567"},
    )
    slug = practice.clinic.slug
    day = practice.day(3)
    pg = new_page(PHONE)
    pg.goto(live_server.url(slug, f"/?lang={lang}"))
    _no_horizontal_scroll(pg)
    pg.get_by_role("link", name=t["Book a visit online"]).click()
    pg.get_by_role("link", name="Follow-up consultation").click()
    pg.get_by_role("link", name="Dr. Anna Weber").click()
    # the month view must have loaded before its days are counted
    expect(pg.get_by_role("link", name=t["Next month"])).to_be_visible()
    if pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').count() == 0:
        pg.get_by_role("link", name=t["Next month"]).click()
    pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').click()
    _no_horizontal_scroll(pg)
    pg.get_by_role("link", name=re.compile(r"^10:00")).click()
    # not signed in yet: sign-in page, then registration keeps where we were going
    expect(pg.get_by_role("heading", name=t["Sign in"])).to_be_visible()
    pg.get_by_role("link", name=t["Register to book online"]).click()
    email = f"ana-{uuid.uuid4().hex[:6]}@example.org"
    pg.get_by_label(t["Full name"]).fill("Ana Lima")
    pg.get_by_label(t["Email"]).fill(email)
    pg.get_by_role("button", name=t["Email me a link"]).click()
    expect(pg.get_by_role("heading", name=t["Check your email"])).to_be_visible()
    drain(worker)
    link = _verify_link(mail_dir, email)
    pg.goto(link)
    pg.get_by_label(t["Choose a password"]).fill("meadow-harbour-lantern-7")
    pg.get_by_role("button", name=t["Save password and continue"]).click()
    expect(pg.get_by_role("heading", name=t["Review your booking"])).to_be_visible()
    expect(pg.get_by_text(t["late-cancellation fee of €30"])).to_be_visible()
    screenshot(pg, f"portal-flow-{lang}-review-360")
    _no_horizontal_scroll(pg)
    pg.get_by_role("button", name=t["Confirm booking"]).click()
    expect(pg.get_by_text(t["There is a problem"])).to_be_visible()  # the policy box was not ticked
    pg.get_by_label(t["I have read the cancellation policy above."]).check()
    pg.get_by_role("button", name=t["Confirm booking"]).click()
    expect(pg.get_by_text(t["Your visit is booked."])).to_be_visible()
    screenshot(pg, f"portal-flow-{lang}-confirmed-360")
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "10:00"))]
    # reschedule to 13:00 the same day
    pg.get_by_role("link", name=re.compile(t["^Change time"])).click()
    pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').click()
    pg.get_by_role("button", name=t["Move to 13:00"]).click()
    expect(pg.get_by_text(t["Your visit has a new time."])).to_be_visible()
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "13:00"))]
    # cancel (outside the cutoff: free of charge)
    pg.get_by_role("link", name=re.compile(t["^Cancel"])).click()
    expect(pg.get_by_text(t["Cancelling now is free of charge."])).to_be_visible()
    pg.get_by_role("button", name=t["Cancel the visit"]).click()
    expect(pg.get_by_text(t["Your visit is cancelled."])).to_be_visible()
    assert _appointments(app, practice.clinic.id)[0][0] == "cancelled"
    screenshot(pg, f"portal-flow-{lang}-visits-360")
    _no_horizontal_scroll(pg)


def test_lost_race_two_browsers(app, live_server, new_page):
    """Two patients confirm the same time: one is booked, the other sees three alternatives."""
    practice = PracticeFactory()
    slug = practice.clinic.slug
    start = practice.at(practice.day(4), "11:00")
    pages = []
    for _ in range(2):
        patient = PatientFactory(clinic=practice.clinic, portal_token=True)
        pg = new_page(PHONE)
        pg.context.add_cookies(
            [
                {
                    "name": "similia_patient",
                    "value": patient.token,
                    "url": live_server.url(slug, "/"),
                }
            ]
        )
        pg.goto(
            live_server.url(
                slug,
                "/book/review?"
                + f"service_id={practice.service_id}&practitioner_id={practice.practitioner_id}"
                + f"&location_id={practice.location_id}&start={start.isoformat().replace('+', '%2B')}",
            )
        )
        pg.get_by_label("I have read the cancellation policy above.").check()
        pages.append(pg)
    pages[0].get_by_role("button", name="Confirm booking").click()
    expect(pages[0].get_by_text("Your visit is booked.")).to_be_visible()
    pages[1].get_by_role("button", name="Confirm booking").click()
    expect(pages[1].get_by_role("heading", name="Here are the nearest free times")).to_be_visible()
    assert pages[1].locator(".slot-list a").count() == 3
    assert [s for s, _ in _appointments(app, practice.clinic.id)] == ["confirmed"]
