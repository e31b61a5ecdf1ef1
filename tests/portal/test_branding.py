"""The clinic's branding on its portal: validated colours only, its own details only."""

from __future__ import annotations

import pytest

from portal.branding import DEFAULT_BRAND, contrast, css_variables, safe_hex, stylesheet
from tests.client import new_client
from tests.factories import PracticeFactory
from tests.factories.base import clinic_session
from tests.portal.conftest import get


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#2F6F5E", "#2f6f5e"),
        ("#abc", "#aabbcc"),
        (" #123456 ", "#123456"),
        ("red", None),
        ("#12345", None),
        ("#1234567", None),
        ("#123456;} body{display:none", None),
        ("url(javascript:alert(1))", None),
        ("expression(alert(1))", None),
        (None, None),
        (123456, None),
    ],
)
def test_safe_hex_accepts_only_hex_colours(value, expected):
    """Anything but ``#rgb``/``#rrggbb`` is refused (None)."""
    assert safe_hex(value) == expected


def test_stylesheet_falls_back_for_a_bad_stored_colour_and_stays_readable():
    """A stored value that is not a colour never reaches the CSS; pale colours get dark text."""
    css = stylesheet({"brand_color": "#fff;}*{background:url(//evil)"})
    assert css == f":root{{--brand:{DEFAULT_BRAND};--brand-ink:#ffffff;--link:{DEFAULT_BRAND};}}\n"
    pale = css_variables({"brand_color": "#f5d90a"})
    assert pale["--brand-ink"] == "#1b1b1b" and pale["--link"] == "#1b1b1b"
    assert contrast(pale["--brand"], pale["--brand-ink"]) >= 4.5
    dark = css_variables({"brand_color": "#6b2d5c"})
    assert dark == {"--brand": "#6b2d5c", "--brand-ink": "#ffffff", "--link": "#6b2d5c"}


def test_two_clinics_show_only_their_own_branding(app):
    """Name, tagline, phone, hours and colour of one clinic never appear on the other's."""
    a, b = PracticeFactory(), PracticeFactory()
    a.owner.patch(
        "/api/v1/settings/branding",
        {
            "brand_color": "#8a1c4a",
            "tagline": "Tagline of A",
            "phone": "+49 30 111111",
            "address": "Street A 1, Berlin",
            "opening_hours": "Mon-Fri 9-17",
            "privacy_notice": "Privacy of A",
        },
    )
    b.owner.patch(
        "/api/v1/settings/branding", {"brand_color": "#1c4a8a", "tagline": "Tagline of B"}
    )
    c = new_client(app)
    home_a = get(c, a.clinic, "/").data.decode()
    home_b = get(c, b.clinic, "/").data.decode()
    assert "Tagline of A" in home_a and "+49 30 111111" in home_a and "Mon-Fri 9-17" in home_a
    assert "openstreetmap.org/search?query=Street%20A%201%2C%20Berlin" in home_a
    assert (
        "Tagline of A" not in home_b
        and "+49 30 111111" not in home_b
        and a.clinic.name not in home_b
    )
    assert "Privacy of A" in get(c, a.clinic, "/privacy").data.decode()
    assert "Privacy of A" not in get(c, b.clinic, "/privacy").data.decode()
    css_a = get(c, a.clinic, "/portal/brand.css")
    css_b = get(c, b.clinic, "/portal/brand.css")
    assert css_a.mimetype == "text/css" and "--brand:#8a1c4a" in css_a.data.decode()
    assert "--brand:#1c4a8a" in css_b.data.decode() and "8a1c4a" not in css_b.data.decode()
    assert "Host" in css_a.headers.get("Vary", "")
    assert "#8a1c4a" not in home_a  # colours never inline, only in the stylesheet
    assert 'style="' not in home_a
    icon = get(c, a.clinic, "/portal/favicon.svg")
    assert icon.mimetype == "image/svg+xml" and b'fill="#8a1c4a"' in icon.data


def test_a_tampered_stored_colour_is_not_emitted(app):
    """Even a value written around the settings API never reaches the stylesheet."""
    from saas.models import Tenant

    practice = PracticeFactory()
    with clinic_session(app, practice.clinic.id) as sess:
        tenant = sess.get(Tenant, practice.clinic.id)
        tenant.settings = {**(tenant.settings or {}), "branding": {"brand_color": "red;}x{y:z"}}
    css = get(new_client(app), practice.clinic, "/portal/brand.css").data.decode()
    assert "red" not in css and f"--brand:{DEFAULT_BRAND}" in css


def test_no_logo_unless_the_branding_has_one(app):
    """The shell shows a logo only for a logo URL on this host or https."""
    from saas.models import Tenant

    practice = PracticeFactory()
    c = new_client(app)
    assert 'class="logo"' not in get(c, practice.clinic, "/").data.decode()
    with clinic_session(app, practice.clinic.id) as sess:
        tenant = sess.get(Tenant, practice.clinic.id)
        tenant.settings = {
            **(tenant.settings or {}),
            "branding": {"logo_url": "javascript:alert(1)"},
        }
    assert 'class="logo"' not in get(c, practice.clinic, "/").data.decode()
    with clinic_session(app, practice.clinic.id) as sess:
        tenant = sess.get(Tenant, practice.clinic.id)
        tenant.settings = {**(tenant.settings or {}), "branding": {"logo_url": "/media/logo.png"}}
    assert 'class="logo" src="/media/logo.png"' in get(c, practice.clinic, "/").data.decode()


def test_page_weight_is_small(app, practice, signed_in):
    """A page with everything it loads (stylesheets, icon) stays far under 200 KB."""
    total = 0
    for path in (
        f"/book?service_id={practice.service_id}&any=1&date={practice.day(2).isoformat()}",
        "/static/similia.css",
        "/portal/static/portal.css",
        "/portal/brand.css",
        "/portal/favicon.svg",
    ):
        resp = get(signed_in, practice.clinic, path)
        assert resp.status_code == 200, path
        total += len(resp.data)
    assert total < 200 * 1024
