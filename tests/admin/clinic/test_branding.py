"""Branding: colours checked for contrast, CSS custom properties only, a cleaned logo."""

from __future__ import annotations

import io
import json
import re

import psycopg
import pytest
from PIL import Image, PngImagePlugin

from tests.client import new_client
from tests.factories import ClinicFactory
from tests.helpers import csrf_from

from .console import Console

BRANDING = {
    "brand_color": "#2f6f5e",
    "accent_color": "#1f5c4d",
    "tagline": "Classical homeopathy since 1998",
    "welcome_text": "Welcome!\nWe see children and adults.",
    "opening_hours": "Mon–Fri 9:00–17:00",
}


def _png(size=(120, 40), *, text: dict | None = None, color=(47, 111, 94)) -> bytes:
    img = Image.new("RGB", size, color)
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (64, 64), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # a GPS latitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _upload(console: Console, data: bytes, name: str, mimetype: str = "image/png"):
    token = csrf_from(console.get("/console/practice/branding").data)
    return console.client.post(
        "/console/practice/branding/logo",
        data={"csrf_token": token, "logo": (io.BytesIO(data), name, mimetype)},
        content_type="multipart/form-data",
        base_url=console.base,
    )


def _settings(dsn, clinic) -> dict:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT settings FROM tenants WHERE id = %s", (clinic.id,)).fetchone()[
            0
        ]


def test_light_colour_is_refused_with_the_ratio_and_a_passing_shade(app, owner_dsn):
    """#88cc99 under white text reaches 1.9:1: refused, explained, nothing saved."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = console.post("/console/practice/branding", {**BRANDING, "brand_color": "#88cc99"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "#88cc99 is too light: white text on it reaches a contrast of 1.9:1" in page
    assert "A darker shade such as #" in page and 'value="#88cc99"' in page
    assert "There is a problem" in page
    assert "branding" not in _settings(owner_dsn, clinic)
    # the shade it suggests passes
    suggested = page.split("A darker shade such as ")[1][:7]
    ok = console.post("/console/practice/branding", {**BRANDING, "brand_color": suggested})
    assert ok.status_code == 302
    assert _settings(owner_dsn, clinic)["branding"]["brand_color"] == suggested


def test_a_refused_colour_can_be_adjusted_with_consent(app, owner_dsn):
    """The page offers the passing shade; only pressing that button uses it."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = console.post("/console/practice/branding", {**BRANDING, "accent_color": "#66aaff"})
    page = r.get_data(as_text=True)
    suggested = re.search(r"Use (#[0-9a-f]{6}) as accent colour and save", page).group(1)
    assert 'name="use_suggested" value="accent_color"' in page
    assert "branding" not in _settings(owner_dsn, clinic)
    ok = console.post(
        "/console/practice/branding",
        {**BRANDING, "accent_color": "#66aaff", "use_suggested": "accent_color"},
    )
    assert ok.status_code == 302
    assert _settings(owner_dsn, clinic)["branding"]["accent_color"] == suggested


def test_the_api_applies_the_same_contrast_rule(app, token_for, client):
    """One rule for pages and API: PATCH /settings/branding refuses an unreadable accent."""
    clinic = ClinicFactory()
    r = client.patch(
        "/api/v1/settings/branding",
        json={"accent_color": "#ffff00"},
        headers={"Authorization": f"Bearer {token_for(clinic)}"},
        base_url=f"http://{clinic.host}",
    )
    assert r.status_code == 422
    assert (
        "text in it on a white page reaches a contrast of 1.1:1"
        in (r.get_json()["errors"]["json"]["accent_color"][0])
    )


@pytest.mark.parametrize(
    "value", ["red", "#12345", "#123456;}body{display:none", "url(x)", "#1234567"]
)
def test_anything_but_a_hex_colour_is_refused(app, owner_dsn, value):
    """Only #rrggbb reaches the stylesheet."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = console.post("/console/practice/branding", {**BRANDING, "accent_color": value})
    assert r.status_code == 422
    assert "branding" not in _settings(owner_dsn, clinic)


def test_branding_reaches_pages_only_as_css_custom_properties(app, owner_dsn):
    """/brand.css carries the saved colours; a tampered stored value falls back to the default."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    saved = {**BRANDING, "brand_color": "#123456", "accent_color": "#8a1c1c"}
    assert console.post("/console/practice/branding", saved).status_code == 302
    css = new_client(app).get("/brand.css", base_url=console.base)
    assert css.mimetype == "text/css"
    assert css.get_data(as_text=True) == (
        ":root{--brand:#123456;--brand-ink:#ffffff;--brand-hover:#0e2a45;--accent:#8a1c1c;}\n"
    )
    public = new_client(app).get("/", base_url=console.base).get_data(as_text=True)
    assert '<link rel="stylesheet" href="/brand.css">' in public
    assert "#123456" not in public and "style=" not in public
    assert "Classical homeopathy since 1998" in public and "Mon–Fri 9:00–17:00" in public
    with psycopg.connect(owner_dsn) as conn:  # a value written around the registry
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(settings, '{branding,brand_color}', %s) "
            "WHERE id = %s",
            (json.dumps("#fff;}*{x:y"), clinic.id),
        )
    css = new_client(app).get("/brand.css", base_url=console.base).get_data(as_text=True)
    assert "--brand:#2f6f5e;" in css and "x:y" not in css


def test_logo_is_re_encoded_without_metadata_and_served_safely(app, owner_dsn):
    """A PNG's text chunks and a JPEG's EXIF are gone; served with its type and nosniff."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = _upload(console, _png(text={"Comment": "hidden payload <script>"}), "logo.png")
    assert r.status_code == 302
    served = new_client(app).get("/brand/logo", base_url=console.base)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert b"hidden payload" not in served.data
    with Image.open(io.BytesIO(served.data)) as img:
        assert img.size == (120, 40) and not img.text
    r = _upload(console, _jpeg_with_exif(), "photo.jpg", "image/jpeg")
    assert r.status_code == 302
    served = new_client(app).get("/brand/logo", base_url=console.base)
    assert served.mimetype == "image/jpeg" and b"secret description" not in served.data
    with Image.open(io.BytesIO(served.data)) as img:
        assert not img.getexif()
    page = console.text("/console/practice/branding")
    assert "64×64 pixels, JPEG" in page
    with psycopg.connect(owner_dsn) as conn:
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'settings.logo%%'",
                (clinic.id,),
            )
        ]
    assert actions == ["settings.logo_changed", "settings.logo_changed"]
    # another clinic has no logo of its own, and cannot see this one
    other = ClinicFactory()
    assert new_client(app).get("/brand/logo", base_url=f"http://{other.host}").status_code == 404
    assert console.post("/console/practice/branding/logo/delete").status_code == 302
    assert new_client(app).get("/brand/logo", base_url=console.base).status_code == 404


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"GIF89a" + b"\x00" * 50, "logo.gif", 422, "not a readable PNG or JPEG"),
        (None, "logo.gif", 415, "Upload a PNG or JPEG image."),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg", 422, "not a readable"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "logo.png", 422, "not a readable"),
        (b"", "logo.png", 422, "Choose an image file"),
        (b"\x00" * (2 * 1024 * 1024 + 10), "big.png", 422, "upload at most 2 MB"),
        ("huge", "huge.png", 422, "use at most 4096×4096"),
    ],
)
def test_bad_logos_are_refused_and_change_nothing(app, owner_dsn, data, name, status, message):
    """Wrong type, garbage, empty, too many bytes or pixels: a clear message, no logo."""
    if data is None:  # a real GIF decodes, but is not a type we take
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, format="GIF")
        data = out.getvalue()
    elif data == "huge":
        data = _png(size=(5000, 4000))
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = _upload(console, data, name)
    assert r.status_code == status
    assert message in r.get_data(as_text=True)
    with psycopg.connect(owner_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM clinic_logos WHERE tenant_id = %s", (clinic.id,)
        ).fetchone() == (0,)


@pytest.mark.parametrize("role", ["practitioner", "receptionist"])
def test_branding_is_for_owners_and_admins(app, owner_dsn, role):
    """Other roles get 403 and change nothing."""
    clinic = ClinicFactory()
    console = Console(app, clinic, role)
    assert console.get("/console/practice/branding").status_code == 403
    assert console.post("/console/practice/branding", BRANDING).status_code == 403
    r = console.client.post(
        "/console/practice/branding/logo",
        data={"csrf_token": console.csrf(), "logo": (io.BytesIO(_png()), "l.png", "image/png")},
        content_type="multipart/form-data",
        base_url=console.base,
    )
    assert r.status_code == 403
    assert "branding" not in _settings(owner_dsn, clinic)
