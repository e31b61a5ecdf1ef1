"""The clinic's own web site shows the booking path in a frame, and a patient books in it.

A second local server plays the clinic's site (``www.<slug>.localhost`` on its own port, so a
different origin on the same site as the portal, as a clinic with a custom domain has it).
Its page holds the frame and the optional resize script exactly as the console gives them.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.factories import PatientFactory, PracticeFactory

from .test_portal_flow import _appointments

pytestmark = pytest.mark.browser


def _site(content: dict):
    """Serve ``content["html"]`` at ``/`` on 127.0.0.1:<free port>; returns (server, port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = content["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="clinic-site", daemon=True).start()
    return server, port


def _clinic_page(portal: str, script: str) -> str:
    """The clinic's page: the frame exactly as the console gives it, then ``script``."""
    return (
        "<!doctype html><html lang='en'><head><title>Our clinic</title></head><body>"
        "<main><h1>Book with us</h1>"
        f'<iframe src="{portal}/book?embed=1" title="Online booking" data-similia-embed '
        'style="width:100%;height:300px;border:0"></iframe></main>'
        f"{script}</body></html>"
    )


def test_booking_inside_the_clinics_own_site(app, live_server, new_page):
    """The frame loads, resizes to its content, walks the steps and books; the DB has it."""
    practice = PracticeFactory()
    slug = practice.clinic.slug
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    portal = live_server.url(slug, "").rstrip("/")
    content = {"html": ""}
    server, port = _site(content)
    try:
        site = f"http://www.{slug}.localhost:{port}"
        resp = practice.owner.patch("/api/v1/settings/branding", {"embed_origins": [site]})
        assert resp.status_code == 200, resp.get_json()
        content["html"] = _clinic_page(
            portal, f'<script src="{portal}/portal/static/embed.js" defer></script>'
        )
        pg = new_page({"width": 1024, "height": 900})
        pg.context.add_cookies(
            [{"name": "similia_patient", "value": patient.token, "url": f"{portal}/"}]
        )
        pg.goto(f"{site}/")
        frame = pg.frame_locator("iframe[data-similia-embed]")
        expect(frame.get_by_role("link", name="Follow-up consultation")).to_be_visible()
        assert frame.locator("header.top").count() == 0
        # the resize script fitted the frame to the page in it (taller than its 300 px)
        expect(pg.locator("iframe[data-similia-embed]")).not_to_have_attribute(
            "style", re.compile(r"height:\s*300px")
        )
        frame.get_by_role("link", name="Follow-up consultation").click()
        frame.get_by_role("link", name="Dr. Anna Weber").click()
        day = practice.day(3)
        day_link = frame.locator(f'a.day.free[href*="date={day.isoformat()}"]')
        # the month view must have loaded before its days are counted
        expect(frame.get_by_role("link", name="Next month")).to_be_visible()
        if day_link.count() == 0:
            frame.get_by_role("link", name="Next month").click()
        day_link.click()
        frame.get_by_role("link", name=re.compile(r"^10:00")).click()
        expect(frame.get_by_role("heading", name="Review your booking")).to_be_visible()
        frame.get_by_label("I have read the cancellation policy above.").check()
        frame.get_by_role("button", name="Confirm booking").click()
        expect(frame.get_by_text("Your visit is booked.")).to_be_visible()
        assert frame.locator("header.top").count() == 0
        assert pg.url == f"{site}/"  # the patient never left the clinic's site
        assert _appointments(app, practice.clinic.id) == [("confirmed", practice.at(day, "10:00"))]
    finally:
        server.shutdown()
        server.server_close()


def test_a_resize_script_that_loads_after_the_frame_still_fits_it(app, live_server, new_page):
    """The site's script starts listening after the booking page measured itself: it asks."""
    practice = PracticeFactory()
    slug = practice.clinic.slug
    portal = live_server.url(slug, "").rstrip("/")
    content = {"html": ""}
    server, port = _site(content)
    try:
        site = f"http://www.{slug}.localhost:{port}"
        resp = practice.owner.patch("/api/v1/settings/branding", {"embed_origins": [site]})
        assert resp.status_code == 200, resp.get_json()
        content["html"] = _clinic_page(
            portal,
            "<button type='button' id='late'>Load the resize script</button>"
            "<script>document.getElementById('late').onclick = () => {"
            " const s = document.createElement('script');"
            f" s.src = '{portal}/portal/static/embed.js'; document.body.appendChild(s); }};"
            "</script>",
        )
        pg = new_page({"width": 1024, "height": 900})
        pg.goto(f"{site}/")
        frame = pg.frame_locator("iframe[data-similia-embed]")
        expect(frame.get_by_role("link", name="Follow-up consultation")).to_be_visible()
        pg.wait_for_timeout(300)  # the booking page has measured itself and said so, unheard
        box = pg.locator("iframe[data-similia-embed]")
        expect(box).to_have_attribute("style", re.compile(r"height:\s*300px"))
        pg.get_by_role("button", name="Load the resize script").click()
        expect(box).not_to_have_attribute("style", re.compile(r"height:\s*300px"))
    finally:
        server.shutdown()
        server.server_close()
