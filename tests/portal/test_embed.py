"""Embeddable booking: a clinic's own origins in its CSP only, checked, and ``?embed=1`` kept."""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.admin.clinic.console import Console
from tests.client import new_client
from tests.factories import PracticeFactory
from tests.helpers import csrf_from
from tests.portal.conftest import get, portal_client


def _csp(resp) -> dict[str, str]:
    out = {}
    for directive in resp.headers["Content-Security-Policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        out[name] = value
    return out


def _set_origins(practice, origins):
    return practice.owner.patch("/api/v1/settings/branding", {"embed_origins": origins})


def test_frame_ancestors_name_only_the_clinics_own_origins(app):
    """A's site may frame A's pages; B's pages stay 'self' only, and A's list never leaks."""
    a, b = PracticeFactory(), PracticeFactory()
    r = _set_origins(a, ["https://www.clinic-a.example", "HTTPS://Booking.Clinic-A.example/"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["embed_origins"] == [
        "https://www.clinic-a.example",
        "https://booking.clinic-a.example",
    ]
    for path in ("/", "/book", "/sign-in", f"/book?service_id={a.service_id}"):
        resp = get(new_client(app), a.clinic, path)
        assert resp.status_code == 200, path
        assert _csp(resp)["frame-ancestors"] == (
            "'self' https://www.clinic-a.example https://booking.clinic-a.example"
        ), path
        assert "X-Frame-Options" not in resp.headers, path
        # the rest of the policy is unchanged
        assert _csp(resp)["default-src"] == "'self'"
        # forms may continue on the clinic's payment provider (Checkout) and nowhere else
        assert _csp(resp)["form-action"] == f"'self' {_payment_origin(app)}"
    for path in ("/", "/book", "/sign-in"):
        resp = get(new_client(app), b.clinic, path)
        assert _csp(resp)["frame-ancestors"] == "'self'"
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "clinic-a" not in resp.headers["Content-Security-Policy"]


def test_console_pages_are_never_framed(app):
    """The clinic's origins open its portal pages only, never the staff console."""
    a = PracticeFactory()
    assert _set_origins(a, ["https://www.clinic-a.example"]).status_code == 200
    resp = new_client(app).get("/login", base_url=f"http://{a.clinic.host}")
    assert _csp(resp)["frame-ancestors"] == "'none'"
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        ("http://www.clinic.example", "not secure"),
        ("https://www.clinic.example/booking", "without a path"),
        ("https://*.clinic.example", "without a path"),
        ("https://user@clinic.example", "without a path"),
        ("javascript:alert(1)", "without a path"),
        ("https://intranet", "not a public web address"),
        ("https://clinic.example:99999", "no valid port"),
        ("*", "without a path"),
    ],
)
def test_bad_origins_are_refused_naming_the_field(app, origin, words):
    """Anything but an https origin is refused (422) and nothing is stored."""
    a = PracticeFactory()
    r = _set_origins(a, ["https://ok.example", origin])
    assert r.status_code == 422
    body = r.get_json()
    assert words in " ".join(body["errors"]["json"]["embed_origins"]), body
    assert a.owner.get("/api/v1/settings/branding").get_json()["embed_origins"] == []


def test_localhost_may_use_plain_http_and_lists_are_bounded(app):
    """Development origins on localhost need no TLS; more than ten addresses are refused."""
    a = PracticeFactory()
    assert _set_origins(a, ["http://www.a.localhost:8123"]).status_code == 200
    r = _set_origins(a, [f"https://s{i}.clinic.example" for i in range(11)])
    assert r.status_code == 422 and "embed_origins" in r.get_json()["errors"]["json"]


def test_stored_bad_origin_never_reaches_the_header(app, owner_dsn):
    """A value written around the API (or by an old version) is re-checked before use."""
    a = PracticeFactory()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(coalesce(settings, '{}'), '{branding}', "
            "%s::jsonb) WHERE id = %s",
            (
                '{"embed_origins": ["https://ok.example", "* data:", "https://x.example; script-src *"]}',
                a.clinic.id,
            ),
        )
    resp = get(new_client(app), a.clinic, "/book")
    assert _csp(resp)["frame-ancestors"] == "'self' https://ok.example"
    assert "script-src" not in resp.headers["Content-Security-Policy"]


def test_embedded_shell_drops_chrome_and_keeps_the_flag(app):
    """``?embed=1``: no header or footer chrome, every booking link and redirect keeps it."""
    a = PracticeFactory()
    c = new_client(app)
    full = get(c, a.clinic, "/book").get_data(as_text=True)
    assert '<header class="top">' in full and "embed-frame.js" not in full
    page = get(c, a.clinic, "/book?embed=1").get_data(as_text=True)
    assert '<header class="top">' not in page and "footer-grid" not in page
    assert "embed-frame.js" in page
    step = re.search(r'href="(/book\?[^"]*service_id=[^"]+)"', page).group(1)
    assert "embed=1" in step
    page = get(c, a.clinic, step.replace("&amp;", "&")).get_data(as_text=True)
    links = re.findall(r'href="(/book\?[^"]+)"', page)
    assert links and all("embed=1" in link for link in links), links
    # the review step sends a visitor to sign in, still embedded, and back to the review
    day = a.day(3)
    start = a.at(day, "10:00").isoformat().replace("+", "%2B")
    review = (
        f"/book/review?service_id={a.service_id}&practitioner_id={a.practitioner_id}"
        f"&location_id={a.location_id}&start={start}&embed=1"
    )
    resp = get(c, a.clinic, review)
    assert resp.status_code == 302
    assert resp.location.startswith("/sign-in?") and resp.location.endswith("&embed=1")
    assert "embed%3D1" in resp.location  # the page to come back to is embedded too
    sign_in = get(c, a.clinic, resp.location).get_data(as_text=True)
    assert '<header class="top">' not in sign_in
    action = re.search(r'<form[^>]*method="post"[^>]*action="([^"]*)"', sign_in)
    assert action is None or "embed=1" in action.group(1)


def test_embedded_booking_posts_back_and_lands_embedded(app, practice, patient):
    """A signed-in patient books from the embedded review page; the answer stays in the frame."""
    c = portal_client(app, practice.clinic, patient.token)
    start = practice.at(practice.day(3), "10:00")
    url = (
        f"/book/review?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}"
        f"&location_id={practice.location_id}&start={start.isoformat().replace('+', '%2B')}"
        "&embed=1"
    )
    page = get(c, practice.clinic, url).get_data(as_text=True)
    assert '<header class="top">' not in page
    assert re.search(r'<form method="post" class="stack card"', page)  # posts to this URL
    resp = c.post(
        url,
        data={
            "csrf_token": csrf_from(page.encode()),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
        },
        base_url=f"http://{practice.clinic.host}",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    assert "booked=1" in resp.location and "embed=1" in resp.location
    done = get(c, practice.clinic, resp.location).get_data(as_text=True)
    assert '<header class="top">' not in done


def test_console_branding_page_saves_origins_and_shows_the_snippet(app):
    """Owners list their site's addresses on the branding page and copy the frame from it."""
    a = PracticeFactory()
    console = Console(app, a.clinic)
    form = {
        "brand_color": "#2f6f5e",
        "accent_color": "#1f5c4d",
        "tagline": "",
        "welcome_text": "",
        "opening_hours": "",
        "embed_origins": "https://www.clinic-a.example\n\n https://intranet-bad ",
    }
    r = console.post("/console/practice/branding", form)
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "There is a problem" in page and "not a public web address" in page
    assert "https://intranet-bad" in page  # what was typed is kept
    form["embed_origins"] = "https://www.clinic-a.example\r\nhttps://shop.clinic-a.example/"
    r = console.post("/console/practice/branding", form)
    assert r.status_code == 302
    page = console.get("/console/practice/branding").get_data(as_text=True)
    assert "https://www.clinic-a.example\nhttps://shop.clinic-a.example</textarea>" in page
    assert f"http://{a.clinic.host}/book?embed=1" in page
    assert "/portal/static/embed.js" in page
    assert "data-similia-embed" in page
    resp = get(new_client(app), a.clinic, "/book")
    assert "https://shop.clinic-a.example" in resp.headers["Content-Security-Policy"]


def test_origins_change_is_audited(app, owner_dsn):
    """Saving the origins writes the branding audit entry with old and new lists."""
    a = PracticeFactory()
    assert _set_origins(a, ["https://www.clinic-a.example"]).status_code == 200
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT data FROM audit_log WHERE tenant_id = %s AND action = "
            "'settings.branding_changed'",
            (a.clinic.id,),
        ).fetchall()
    assert any(r[0].get("embed_origins") == [[], ["https://www.clinic-a.example"]] for r in rows), (
        rows
    )


def _payment_origin(app) -> str:
    from urllib.parse import urlsplit

    base = urlsplit(app.config["SIMILIA"].stripe_api_base)
    return f"{base.scheme}://{base.netloc}"
