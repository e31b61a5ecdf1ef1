"""Every portal page passes axe-core at 360x740 and 1280x800, for two differently branded clinics.

One clinic's portal speaks German by default, the other English, so both languages are checked.

Each page is screenshotted into ``tests/artifacts/portal-<clinic>-<page>-<width>.png`` for a
human to look at, checked for sideways scrolling at 360 px and weighed (document plus
everything it loads, the logo excepted: under 200 KB). The two clinics' pages show only
their own name, colour and contact details, and each clinic's patient only their own visits
(the other clinic's visit is a 404; the portal cookie signs in on its own clinic only).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory

from .test_console_a11y import _violations

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
CONTACTS = {
    "rosa": {
        "address": "Oranienstraße 12\n10999 Berlin",
        "phone": "+49 30 6543210",
        "email": "praxis@rosa.example",
    },
    "sun": {"address": "4 Market Street, Bath", "phone": "+44 1225 000000"},
}
BRANDS = {
    "rosa": {
        "brand_color": "#8a1c4a",
        "tagline": "Classical homeopathy in Kreuzberg",
        "welcome_text": "Consultations in German and English.\nNew patients welcome.",
        "opening_hours": "Mon–Thu 9:00–18:00\nFri 9:00–13:00",
        "privacy_notice": "We keep your records for ten years as the law requires.",
        "imprint": "Praxis Rosa, Inh. R. Keller, Oranienstraße 12, 10999 Berlin",
        "language": "de",  # this clinic's pages are checked in German
    },
    "sun": {
        "brand_color": "#0b5394",
        "accent_color": "#0b5394",
        "tagline": "Family homeopathy",
        "opening_hours": "Weekdays 8:30–17:30",
    },
}
MAX_BYTES = 200 * 1024


def _weight(pg) -> int:
    return pg.evaluate(
        """() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource')
          .filter(r => !r.name.includes('logo'));
        return (nav ? nav.transferSize || nav.encodedBodySize : 0)
          + res.reduce((n, r) => n + (r.transferSize || r.encodedBodySize || 0), 0);
    }"""
    )


def _clinic(name: str, tz: str):
    practice = PracticeFactory(tz=tz)
    resp = practice.owner.patch("/api/v1/settings/branding", BRANDS[name])
    assert resp.status_code == 200, resp.get_json()
    resp = practice.owner.patch("/api/v1/settings/clinic", CONTACTS[name])
    assert resp.status_code == 200, resp.get_json()
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    day = practice.day(3)
    booking = AppointmentFactory(
        practice=practice, patient=patient, start=practice.at(day, "10:00")
    )
    return practice, patient, booking, day


def _pages(practice, booking, day) -> tuple[dict, dict]:
    sid, pid, lid = practice.service_id, practice.practitioner_id, practice.location_id
    start = practice.at(day, "14:00").isoformat().replace("+", "%2B")
    anonymous = {
        "home": "/",
        "sign-in": "/sign-in",
        "sign-in-email": "/sign-in/email",
        "register": "/register",
        "forgot": "/forgot-password",
        "check-email": "/check-email",
        "verify": "/verify-email?token=simp_not-a-real-token",
        "privacy": "/privacy",
        "imprint": "/imprint",
    }
    signed_in = {
        "book-types": "/book",
        "book-practitioners": f"/book?service_id={sid}",
        "book-month": f"/book?service_id={sid}&practitioner_id={pid}&month={day:%Y-%m}",
        "book-day": f"/book?service_id={sid}&any=1&date={day.isoformat()}",
        "review": f"/book/review?service_id={sid}&practitioner_id={pid}&location_id={lid}&start={start}",
        "visits": "/appointments",
        "visit": f"/appointments/{booking.id}",
        "reschedule": f"/appointments/{booking.id}/reschedule?date={day.isoformat()}",
        "cancel": f"/appointments/{booking.id}/cancel",
        "waitlist": "/waitlist",
        "profile": "/profile",
        "not-found": "/appointments/00000000-0000-0000-0000-000000000000",
    }
    return anonymous, signed_in


def test_portal_pages_pass_axe_for_two_brands(app, live_server, new_page, screenshot):
    """Zero serious/critical axe findings, no sideways scroll at 360 px, under 200 KB."""
    found, heavy, sideways = {}, {}, []
    clinics = {"rosa": _clinic("rosa", "Europe/Berlin"), "sun": _clinic("sun", "Europe/London")}
    for name, (practice, patient, booking, day) in clinics.items():
        slug = practice.clinic.slug
        anonymous, signed_in = _pages(practice, booking, day)
        anon = new_page(PHONE)
        mine = new_page(PHONE)
        mine.context.add_cookies(
            [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
        )
        for pg, pages in ((anon, anonymous), (mine, signed_in)):
            for width, viewport in (("360", PHONE), ("1280", DESKTOP)):
                pg.set_viewport_size(viewport)
                for page_name, path in pages.items():
                    pg.goto(live_server.url(slug, path))
                    assert "/sign-in" not in pg.url or page_name.startswith("sign-in"), pg.url
                    screenshot(pg, f"portal-{name}-{page_name}-{width}")
                    if problems := _violations(pg):
                        found[f"{name} {page_name} at {width}"] = problems
                    if width == "360":
                        if pg.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
                            sideways.append(f"{name} {page_name}")
                        if (weight := _weight(pg)) > MAX_BYTES:
                            heavy[f"{name} {page_name}"] = weight
    assert not found, found
    assert not sideways, sideways
    assert not heavy, heavy
    # each clinic's pages carry only its own branding
    rosa, sun = clinics["rosa"][0], clinics["sun"][0]
    pg = new_page(DESKTOP)
    pg.goto(live_server.url(rosa.clinic.slug, "/"))
    expect(pg.get_by_text("Classical homeopathy in Kreuzberg")).to_be_visible()
    html = pg.content()
    assert "+44 1225" not in html and "Family homeopathy" not in html
    assert sun.clinic.name not in html
    header = pg.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header == "rgb(138, 28, 74)"
    pg.goto(live_server.url(sun.clinic.slug, "/"))
    html = pg.content()
    assert "Kreuzberg" not in html and "+49 30" not in html and rosa.clinic.name not in html
    assert pg.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor") == (
        "rgb(11, 83, 148)"
    )
    # ... and only their own data: each patient sees their own visit, never the other's
    for name, other in (("rosa", "sun"), ("sun", "rosa")):
        practice, patient, booking, _day = clinics[name]
        theirs = clinics[other][2]
        slug = practice.clinic.slug
        mine = new_page(DESKTOP)
        mine.context.add_cookies(
            [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
        )
        mine.goto(live_server.url(slug, "/appointments"))
        expect(mine.locator(f'a[href*="/appointments/{booking.id}"]').first).to_be_visible()
        assert str(theirs.id) not in mine.content()
        resp = mine.goto(live_server.url(slug, f"/appointments/{theirs.id}"))
        assert resp.status == 404
        # the cookie is this clinic's only: on the other clinic's portal nobody is signed in
        mine.goto(live_server.url(clinics[other][0].clinic.slug, "/appointments"))
        assert "/sign-in" in mine.url
