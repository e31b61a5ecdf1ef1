"""Clinic settings API: validation, RBAC, audit, isolation."""

from __future__ import annotations

import psycopg

from tests.helpers import bearer


def test_owner_changes_settings_and_it_is_audited(make_clinic, token_for, client, owner_dsn):
    """A change is stored and audited per section with old and new values; a no-op writes nothing."""
    clinic = make_clinic()
    token = token_for(clinic)
    host = f"http://{clinic.host}"
    resp = client.patch(
        "/api/v1/clinic",
        json={"brand_color": "#123456", "name": "Sulphur House"},
        headers=bearer(token),
        base_url=host,
    )
    assert resp.status_code == 200
    assert (
        resp.get_json()["brand_color"] == "#123456" and resp.get_json()["name"] == "Sulphur House"
    )
    client.patch(
        "/api/v1/clinic", json={"brand_color": "#123456"}, headers=bearer(token), base_url=host
    )
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT action, data FROM audit_log WHERE tenant_id = %s AND action LIKE 'settings.%%'"
            " ORDER BY seq",
            (clinic.id,),
        ).fetchall()
        name = conn.execute("SELECT name FROM tenants WHERE id = %s", (clinic.id,)).fetchone()[0]
    assert sorted(action for action, _ in rows) == [
        "settings.branding_changed",
        "settings.clinic_changed",
    ]
    data = {action: d for action, d in rows}
    assert data["settings.branding_changed"] == {"brand_color": ["#2f6f5e", "#123456"]}
    assert data["settings.clinic_changed"]["name"][1] == "Sulphur House"
    assert name == "Sulphur House"
    assert "Sulphur House" in client.get("/", base_url=host).get_data(as_text=True)


def test_invalid_settings_are_422_and_change_nothing(make_clinic, token_for, client):
    """Bad colour, unknown zone, unknown privacy mode: 422 naming the field."""
    clinic = make_clinic()
    token = token_for(clinic)
    host = f"http://{clinic.host}"
    for body, field in (
        ({"brand_color": "red"}, "brand_color"),
        ({"timezone": "Atlantis/Capital"}, "timezone"),
        ({"patient_names_in_feeds": "everything"}, "patient_names_in_feeds"),
    ):
        resp = client.patch("/api/v1/clinic", json=body, headers=bearer(token), base_url=host)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"]
    assert (
        client.get("/api/v1/clinic", headers=bearer(token), base_url=host).get_json()["timezone"]
        == "Europe/London"
    )


def test_receptionist_cannot_change_settings(make_clinic, token_for, app, client):
    """settings.manage is for owners and admins."""
    from tests.factories import add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "receptionist")
    token = token_for(clinic, email=email, secret=secret)
    resp = client.patch(
        "/api/v1/clinic",
        json={"tagline": "x"},
        headers=bearer(token),
        base_url=f"http://{clinic.host}",
    )
    assert resp.status_code == 403


def test_other_clinic_token_cannot_read_or_change(two_clinics, client):
    """Clinic A's token on B's host is refused."""
    (a, token_a), (b, _) = two_clinics
    resp = client.patch(
        "/api/v1/clinic",
        json={"name": "Pwned"},
        headers=bearer(token_a),
        base_url=f"http://{b.host}",
    )
    assert resp.status_code == 401
    assert (
        client.get(
            "/api/v1/clinic", headers=bearer(token_a), base_url=f"http://{b.host}"
        ).status_code
        == 401
    )


def test_settings_registry_serves_every_section(make_clinic, token_for, client):
    """``GET /settings`` lists each declared section with its defaults; the OpenAPI has them."""
    from saas import settings

    clinic = make_clinic()
    host, headers = f"http://{clinic.host}", bearer(token_for(clinic))
    every = client.get("/api/v1/settings", headers=headers, base_url=host).get_json()
    assert set(every) == set(settings.SECTIONS) >= {"clinic", "branding", "records", "feeds"}
    assert every["branding"] == {
        "brand_color": "#2f6f5e",
        "accent_color": "#1f5c4d",
        "tagline": "",
        "welcome_text": "",
        "opening_hours": "",
        "privacy_notice": "",
        "imprint": "",
        "language": "en",
        "embed_origins": [],
    }
    assert every["feeds"] == {"patient_names_in_feeds": "initials"}
    assert every["records"]["clinical_access"] == {"owner": "write", "admin": "none"}
    assert every["clinic"] == {
        "name": f"Clinic {clinic.slug}",
        "timezone": "Europe/London",
        "currency": "GBP",
        "address": "",
        "phone": "",
        "email": "",
    }
    spec = client.get("/api/openapi.json", base_url=host).get_json()
    for name in settings.SECTIONS:
        assert {"get", "patch"} <= set(spec["paths"][f"/api/v1/settings/{name}"])


def test_section_patch_validates_and_audits_once(make_clinic, token_for, client, owner_dsn):
    """One write path: a valid change is stored and audited; a bad one is a 422 naming the field."""
    clinic = make_clinic()
    host, headers = f"http://{clinic.host}", bearer(token_for(clinic))
    ok = client.patch(
        "/api/v1/settings/feeds",
        json={"patient_names_in_feeds": "none"},
        headers=headers,
        base_url=host,
    )
    assert ok.status_code == 200 and ok.get_json() == {"patient_names_in_feeds": "none"}
    bad = client.patch(
        "/api/v1/settings/branding",
        json={"brand_color": "#12345", "tagline": "fine"},
        headers=headers,
        base_url=host,
    )
    assert bad.status_code == 422 and "brand_color" in bad.get_json()["errors"]["json"]
    zone = client.patch(
        "/api/v1/settings/clinic",
        json={"timezone": "Atlantis/Capital"},
        headers=headers,
        base_url=host,
    )
    assert zone.status_code == 422 and "timezone" in zone.get_json()["errors"]["json"]
    every = client.get("/api/v1/settings", headers=headers, base_url=host).get_json()
    assert every["branding"]["tagline"] == "" and every["clinic"]["timezone"] == "Europe/London"
    with psycopg.connect(owner_dsn) as conn:
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'practice.%%'",
                (clinic.id,),
            )
        ]
        (stored,) = conn.execute(
            "SELECT settings FROM tenants WHERE id = %s", (clinic.id,)
        ).fetchone()
    assert actions == ["practice.feed_privacy_set"]
    assert stored["feeds"] == {"patient_names_in_feeds": "none"} and "branding" not in stored


def test_section_permissions_and_owner_only_keys(make_clinic, token_for, app, client):
    """Receptionists read but cannot change; only an owner changes clinical access."""
    from tests.factories import add_staff

    clinic = make_clinic()
    host = f"http://{clinic.host}"
    email, secret = add_staff(app, clinic, "receptionist")
    desk = bearer(token_for(clinic, email=email, secret=secret))
    assert client.get("/api/v1/settings/branding", headers=desk, base_url=host).status_code == 200
    denied = client.patch(
        "/api/v1/settings/branding", json={"tagline": "x"}, headers=desk, base_url=host
    )
    assert denied.status_code == 403
    email, secret = add_staff(app, clinic, "admin")
    admin = bearer(token_for(clinic, email=email, secret=secret))
    grab = client.patch(
        "/api/v1/settings/records",
        json={"clinical_access": {"admin": "write"}},
        headers=admin,
        base_url=host,
    )
    assert grab.status_code == 403 and "clinical_access" in grab.get_json()["errors"]["json"]
    owner = bearer(token_for(clinic))
    grant = client.patch(
        "/api/v1/settings/records",
        json={"clinical_access": {"admin": "read"}},
        headers=owner,
        base_url=host,
    )
    # dict-valued settings merge key by key: the owner's own level is untouched
    assert grant.get_json()["clinical_access"] == {"owner": "write", "admin": "read"}


def test_settings_sections_are_per_clinic(two_clinics, client):
    """A's token is refused on B's host, and A's change never shows at B."""
    (a, token_a), (b, token_b) = two_clinics
    for method in ("get", "patch"):
        resp = getattr(client, method)(
            "/api/v1/settings/branding",
            json={"tagline": "A"} if method == "patch" else None,
            headers=bearer(token_a),
            base_url=f"http://{b.host}",
        )
        assert resp.status_code == 401
    client.patch(
        "/api/v1/settings/branding",
        json={"tagline": "Only A"},
        headers=bearer(token_a),
        base_url=f"http://{a.host}",
    )
    b_view = client.get(
        "/api/v1/settings/branding", headers=bearer(token_b), base_url=f"http://{b.host}"
    ).get_json()
    assert b_view["tagline"] == ""
