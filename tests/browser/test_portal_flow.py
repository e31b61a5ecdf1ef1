"""A patient registers, verifies, books, reschedules and cancels, at 360x740 and 1280x800.

Headless Chromium against the live server: the verification and confirmation emails are
read from the embedded SMTP sink (the real worker delivers them); every step is a plain
HTML page, axe-core finds no serious or critical problem on any of them, nothing scrolls
sideways at 360 px, and the database is checked after each change. The German run
switches language with the footer's link. Once the clinic's cutoffs have passed, moving
the visit is refused with the reason shown and cancelling is a late cancellation with its
fee. Two browser contexts race for the same time: one is confirmed, the other sees the
nearest free times instead of an error.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from saas.devmail import read_messages
from tests.factories import PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import drain, text_of

from .test_console_a11y import _violations

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
WIDE = {"width": 1280, "height": 800}
VIEWPORTS = {"360": PHONE, "1280": WIDE}
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
        "Your visit is cancelled.": "Your visit is cancelled.",
        "too late to reschedule": "It is too late to reschedule online. Please call the clinic.",
        "late fee applies": "a late-cancellation fee of €30 applies if you cancel now",
        "Confirmed": "Confirmed: Follow-up consultation",
        "booked": "Your consultation is booked.",
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
        "Your visit is cancelled.": "Ihr Termin ist storniert.",
        "too late to reschedule": (
            "Für eine Online-Verschiebung ist es zu spät. Bitte rufen Sie die Praxis an."
        ),
        "late fee applies": "fällt eine Gebühr von 30,00\xa0€ an",
        "Confirmed": "Bestätigt: Follow-up consultation",
        "booked": "Ihr Termin ist gebucht.",
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


def _mail(mail_dir, to: str, subject_start: str, timeout: float = 20.0):
    """The first delivered email to ``to`` whose subject starts with ``subject_start``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in read_messages(mail_dir):
            if msg["To"] == to and msg["Subject"].startswith(subject_start):
                return msg
        time.sleep(0.2)
    subjects = [m["Subject"] for m in read_messages(mail_dir) if m["To"] == to]
    raise AssertionError(f"no email {subject_start!r} to {to}: {subjects}")


class Checked:
    """Every page the patient reaches: axe-core clean, and at 360 px no sideways scroll."""

    def __init__(self, pg, width: str):
        self.pg, self.width, self.found = pg, width, {}

    def __call__(self) -> None:
        if problems := _violations(self.pg):
            self.found[self.pg.url] = problems
        if self.width == "360":
            _no_horizontal_scroll(self.pg)


@pytest.mark.parametrize("width", ["360", "1280"])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_register_verify_book_reschedule_cancel(
    app, live_server, new_page, worker, mail_dir, screenshot, lang, width
):
    """The whole patient path at 360 and 1280 px, in English and in German, plain forms only."""
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
    pg = new_page(VIEWPORTS[width])
    check = Checked(pg, width)
    pg.goto(live_server.url(slug, "/"))
    check()
    if lang != "en":  # the footer's language switch, as a patient would
        pg.locator("footer").get_by_role("link", name="Deutsch").click()
        expect(pg.locator("html")).to_have_attribute("lang", lang)
        check()
    pg.get_by_role("link", name=t["Book a visit online"]).click()
    check()
    pg.get_by_role("link", name="Follow-up consultation").click()
    check()
    pg.get_by_role("link", name="Dr. Anna Weber").click()
    # the month view must have loaded before its days are counted
    expect(pg.get_by_role("link", name=t["Next month"])).to_be_visible()
    check()
    if pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').count() == 0:
        pg.get_by_role("link", name=t["Next month"]).click()
    pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').click()
    check()
    pg.get_by_role("link", name=re.compile(r"^10:00")).click()
    # not signed in yet: sign-in page, then registration keeps where we were going
    expect(pg.get_by_role("heading", name=t["Sign in"])).to_be_visible()
    check()
    pg.get_by_role("link", name=t["Register to book online"]).click()
    check()
    email = f"ana-{uuid.uuid4().hex[:6]}@example.org"
    pg.get_by_label(t["Full name"]).fill("Ana Lima")
    pg.get_by_label(t["Email"]).fill(email)
    pg.get_by_role("button", name=t["Email me a link"]).click()
    expect(pg.get_by_role("heading", name=t["Check your email"])).to_be_visible()
    check()
    drain(worker)
    link = _verify_link(mail_dir, email)
    pg.goto(link)
    check()
    pg.get_by_label(t["Choose a password"]).fill("meadow-harbour-lantern-7")
    pg.get_by_role("button", name=t["Save password and continue"]).click()
    expect(pg.get_by_role("heading", name=t["Review your booking"])).to_be_visible()
    expect(pg.get_by_text(t["late-cancellation fee of €30"])).to_be_visible()
    check()
    screenshot(pg, f"portal-flow-{lang}-review-{width}")
    pg.get_by_role("button", name=t["Confirm booking"]).click()
    expect(pg.get_by_text(t["There is a problem"])).to_be_visible()  # the policy box was not ticked
    check()
    pg.get_by_label(t["I have read the cancellation policy above."]).check()
    pg.get_by_role("button", name=t["Confirm booking"]).click()
    expect(pg.get_by_text(t["Your visit is booked."])).to_be_visible()
    check()
    screenshot(pg, f"portal-flow-{lang}-confirmed-{width}")
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "10:00"))]
    # the confirmation email, delivered by the real worker, links to this visit
    drain(worker)
    confirmation = _mail(mail_dir, email, t["Confirmed"])
    body = text_of(confirmation)
    # (the worker's app names the default port; the path is the visit's page)
    assert t["booked"] in body and urlsplit(pg.url).path in body, body
    # reschedule to 13:00 the same day
    pg.get_by_role("link", name=re.compile(t["^Change time"])).click()
    check()
    pg.locator(f'a.day.free[href*="date={day.isoformat()}"]').click()
    check()
    pg.get_by_role("button", name=t["Move to 13:00"]).click()
    expect(pg.get_by_text(t["Your visit has a new time."])).to_be_visible()
    check()
    assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "13:00"))]
    # the clinic's cutoffs now cover the visit: moving it is refused with the reason shown,
    # cancelling is a late cancellation with its fee
    rules = {
        "slot_step_minutes": 30,
        "min_notice_minutes": 60,
        "max_advance_days": 365,
        "cancellation_cutoff_minutes": 10 * 24 * 60,
        "reschedule_cutoff_minutes": 10 * 24 * 60,
        "late_cancellation_fee_minor": 3000,
    }
    resp = practice.owner.send("PUT", "/api/v1/practice/booking-rules", rules)
    assert resp.status_code == 200, resp.get_json()
    pg.reload()
    expect(pg.get_by_text(t["too late to reschedule"])).to_be_visible()
    expect(pg.get_by_role("link", name=re.compile(t["^Change time"]))).to_have_count(0)
    check()
    screenshot(pg, f"portal-flow-{lang}-refused-{width}")
    pg.get_by_role("link", name=re.compile(t["^Cancel"])).click()
    expect(pg.get_by_text(t["late fee applies"])).to_be_visible()
    check()
    pg.locator("main form button[type=submit]").click()
    expect(pg.get_by_text(t["Your visit is cancelled."])).to_be_visible()
    check()
    assert _appointments(app, practice.clinic.id)[0][0] == "cancelled"
    screenshot(pg, f"portal-flow-{lang}-visits-{width}")
    assert not check.found, check.found


@pytest.mark.parametrize("width", ["360", "1280"])
def test_lost_race_two_browsers(app, live_server, new_page, screenshot, width):
    """Two patients confirm the same time: one is booked, the other sees three alternatives."""
    practice = PracticeFactory()
    slug = practice.clinic.slug
    start = practice.at(practice.day(4), "11:00")
    pages = []
    for _ in range(2):
        patient = PatientFactory(clinic=practice.clinic, portal_token=True)
        pg = new_page(VIEWPORTS[width])
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
    check = Checked(pages[1], width)
    check()
    assert not check.found, check.found
    screenshot(pages[1], f"portal-race-lost-{width}")
    assert [s for s, _ in _appointments(app, practice.clinic.id)] == ["confirmed"]
