"""A patient books a prepaid visit in the browser and pays on the Stripe test checkout.

The visit is then confirmed, with its receipt.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.billing.conftest import StripeTestServer, apply_events
from tests.billing.test_visit_payments import _practice
from tests.client import new_client
from tests.factories import PatientFactory

from .test_console_a11y import _violations

PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def test_book_and_pay_a_prepaid_visit(
    app, live_server, new_page, service_env, owner_dsn, screenshot
):
    """Hold the time → Stripe Checkout → pay → receipt → cancel, told what goes back."""
    stripe_server = StripeTestServer(
        service_env["STRIPE_API_BASE"],
        service_env["STRIPE_WEBHOOK_SECRET"],
        service_env["STRIPE_CONNECT_WEBHOOK_SECRET"],
    )
    practice, _ = _practice(app, stripe_server, owner_dsn)
    slug = practice.clinic.slug
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    start = practice.at(practice.day(4), "11:00")
    pg = new_page(PHONE)
    pg.context.add_cookies(
        [{"name": "similia_patient", "value": patient.token, "url": live_server.url(slug, "/")}]
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
    pg.get_by_role("button", name="Hold this time").click()
    expect(pg.get_by_role("heading", name="Test checkout")).to_be_visible()
    session_id = pg.url.rsplit("/", 1)[1]
    pg.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(pg.get_by_text("Your payment is being confirmed")).to_be_visible()
    # Stripe's webhooks, as the test server signed them, reach the platform
    ids = {session_id, stripe_server.object(session_id)["payment_intent"]}
    events = [
        e
        for e in stripe_server._call("GET", "/_test/events")["data"]
        if json.loads(e["payload"])["data"]["object"]["id"] in ids
    ]
    assert apply_events(app, new_client(app), events)[0] == "applied (paid)"
    pg.reload()
    expect(pg.locator(".badge.status-confirmed")).to_be_visible()
    pg.get_by_role("link", name="Receipt").click()
    expect(pg.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(pg.locator("[data-amount]")).to_contain_text("60")
    # cancelling a paid visit: the page says what goes back to the card, at both widths
    visit = pg.url.rsplit("/receipt", 1)[0]
    pg.goto(visit + "/cancel")
    for width, viewport in (("360", NARROW), ("1280", DESKTOP)):
        pg.set_viewport_size(viewport)
        expect(pg.locator("[data-refund-preview]")).to_contain_text("€60 goes back to your card")
        screenshot(pg, f"portal-cancel-paid-{width}")
        assert _violations(pg) == [], width
        if width == "360":
            assert pg.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    pg.get_by_role("button", name="Cancel the visit").click()
    expect(pg.locator(".flash.success")).to_contain_text("€60 is on its way back to your card")
