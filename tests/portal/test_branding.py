"""The clinic's branding on its portal: validated colours only, its own details only."""

from __future__ import annotations

import pytest

from portal.branding import DEFAULT_BRAND, contrast, css_variables, safe_hex
from tests.client import new_client
from tests.factories import PracticeFactory
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


def test_portal_colours_fall_back_and_stay_readable():
    """A stored value that is not a colour is never used; pale colours get dark text."""
    bad = css_variables({"brand_color": "#fff;}*{background:url(//evil)"})
    assert bad["--brand"] == DEFAULT_BRAND
    pale = css_variables({"brand_color": "#f5d90a"})
    assert pale["--brand-ink"] == "#1b1b1b"
    assert contrast(pale["--brand"], pale["--brand-ink"]) >= 4.5


def test_two_clinics_show_only_their_own_branding(app):
    """Name, tagline, phone, hours, notices and colour of one clinic never appear on the other's."""
    a, b = PracticeFactory(), PracticeFactory()
    resp = a.owner.patch(
        "/api/v1/settings/branding",
        {
            "brand_color": "#8a1c4a",
            "tagline": "Tagline of A",
            "opening_hours": "Mon-Fri 9-17",
            "privacy_notice": "Privacy of A",
            "imprint": "Imprint of A",
        },
    )
    assert resp.status_code == 200, resp.get_json()
    resp = a.owner.patch(
        "/api/v1/settings/clinic", {"phone": "+49 30 111111", "address": "Street A 1, Berlin"}
    )
    assert resp.status_code == 200, resp.get_json()
    b.owner.patch(
        "/api/v1/settings/branding", {"brand_color": "#1c4a8a", "tagline": "Tagline of B"}
    )
    c = new_client(app)
    home_a = get(c, a.clinic, "/").data.decode()
    home_b = get(c, b.clinic, "/").data.decode()
    assert "Tagline of A" in home_a and "+49 30 111111" in home_a and "Mon-Fri 9-17" in home_a
    assert "openstreetmap.org/search?query=Street%20A%201%2C%20Berlin" in home_a
    assert "Tagline of A" not in home_b and "+49 30 111111" not in home_b
    assert a.clinic.name not in home_b and "Mon-Fri 9-17" not in home_b
    assert "Privacy of A" in get(c, a.clinic, "/privacy").data.decode()
    assert "Imprint of A" in get(c, a.clinic, "/imprint").data.decode()
    assert "Privacy of A" not in get(c, b.clinic, "/privacy").data.decode()
    css_a = get(c, a.clinic, "/brand.css").data.decode()
    css_b = get(c, b.clinic, "/brand.css").data.decode()
    assert "--brand:#8a1c4a" in css_a and "--brand:#1c4a8a" in css_b and "8a1c4a" not in css_b
    assert '<link rel="stylesheet" href="/brand.css">' in home_a
    assert "#8a1c4a" not in home_a and 'style="' not in home_a  # colours never inline
    icon = get(c, a.clinic, "/portal/favicon.svg")
    assert icon.mimetype == "image/svg+xml" and b'fill="#8a1c4a"' in icon.data
    assert 'class="logo"' not in home_a  # no logo uploaded: none shown


def test_page_weight_is_small(app, practice, signed_in):
    """A page with everything it loads (stylesheets, icon) stays far under 200 KB."""
    total = 0
    for path in (
        f"/book?service_id={practice.service_id}&any=1&date={practice.day(2).isoformat()}",
        "/static/similia.css",
        "/portal/static/portal.css",
        "/brand.css",
        "/portal/favicon.svg",
    ):
        resp = get(signed_in, practice.clinic, path)
        assert resp.status_code == 200, path
        total += len(resp.data)
    assert total < 200 * 1024
