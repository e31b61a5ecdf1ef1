"""Clinic settings API: validation, RBAC, audit, isolation."""

from __future__ import annotations

import psycopg

from tests.helpers import bearer


def test_owner_changes_settings_and_it_is_audited(make_clinic, token_for, client, owner_dsn):
    """A change is stored and audited with old and new values; a no-op writes nothing."""
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
            "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'settings.changed'",
            (clinic.id,),
        ).fetchall()
        name = conn.execute("SELECT name FROM tenants WHERE id = %s", (clinic.id,)).fetchone()[0]
    assert len(rows) == 1
    assert rows[0][0]["brand_color"] == ["#2f6f5e", "#123456"]
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
