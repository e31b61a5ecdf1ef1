"""Clinic signup through the API: rules, conflicts, and one unit across Postgres and Vault."""

from __future__ import annotations

import uuid

import hvac
import psycopg
import pytest

BASE = {
    "name": "Arnica Clinic",
    "timezone": "Asia/Kolkata",
    "country": "IN",
    "owner_name": "Dr. Priya Nair",
    "password": "globules and potency 200C",
}


def _signup(client, **fields):
    slug = fields.get("slug") or f"s-{uuid.uuid4().hex[:10]}"
    body = {
        **BASE,
        "slug": slug,
        "owner_email": f"owner-{uuid.uuid4().hex[:8]}@example.org",
        **fields,
    }
    return client.post("/api/v1/signup", json=body, base_url="http://localhost")


def _tenant_count(owner_dsn, slug):
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute("SELECT count(*) FROM tenants WHERE slug = %s", (slug,)).fetchone()[0]


def test_signup_creates_clinic_owner_key_and_audit(client, owner_dsn, keys, service_env):
    """201 with tenant, owner and an otpauth URI; rows, Vault key and audit entry exist."""
    resp = _signup(client)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["tenant"]["currency"] == "INR"
    assert body["tenant"]["timezone"] == "Asia/Kolkata"
    assert body["owner"]["role"] == "owner"
    assert body["mfa"]["otpauth_uri"].startswith("otpauth://totp/")
    assert "password" not in body["owner"]
    tid = body["tenant"]["id"]
    with psycopg.connect(owner_dsn) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM tenant_data_keys WHERE tenant_id = %s", (tid,)
            ).fetchone()[0]
            == 1
        )
        wrapped = conn.execute(
            "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s", (tid,)
        ).fetchone()[0]
        actions = [
            r[0] for r in conn.execute("SELECT action FROM audit_log WHERE tenant_id = %s", (tid,))
        ]
        secret = conn.execute(
            "SELECT totp_secret FROM users WHERE tenant_id = %s", (tid,)
        ).fetchone()[0]
    assert wrapped.startswith("vault:v1:")
    assert actions == ["tenant.created"]
    assert body["mfa"]["secret"].encode() not in bytes(secret)  # TOTP secret is sealed
    admin = hvac.Client(url=service_env["VAULT_ADDR"], token=service_env["VAULT_ADMIN_TOKEN"])
    assert admin.secrets.transit.read_key(name=f"tenant-{tid}")["data"]["type"] == "aes256-gcm96"


@pytest.mark.parametrize(
    "slug",
    [
        "ab",
        "x" * 41,
        "-clinic",
        "clinic-",
        "Clinic",
        "cl_inic",
        "cli nic",
        "admin",
        "www",
        "api",
        "a--b",
        "émile",
    ],
)
def test_slug_rules(client, owner_dsn, slug):
    """Invalid or reserved addresses get 422 naming the slug field; nothing is created."""
    resp = _signup(client, slug=slug)
    assert resp.status_code == 422
    assert "slug" in resp.get_json()["errors"]["json"]
    assert _tenant_count(owner_dsn, slug.lower()) == 0


def test_duplicate_slug_is_409_with_field_error(client):
    """A taken address gets 409 and a field error."""
    slug = f"d-{uuid.uuid4().hex[:8]}"
    assert _signup(client, slug=slug).status_code == 201
    again = _signup(client, slug=slug, owner_email="other@example.org")
    assert again.status_code == 409
    assert "already taken" in again.get_json()["errors"]["json"]["slug"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("country", "XX"),
        ("password", "short"),
        ("currency", "XYZ"),
        ("owner_email", "not-an-email"),
    ],
)
def test_field_validation(client, field, value):
    """Each bad field is named in the 422 body."""
    resp = _signup(client, **{field: value})
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"]


def test_signup_rolls_back_when_vault_is_down(client, app, services, owner_dsn):
    """Vault unreachable: 503, no tenant row, no user; readiness names Vault; then it recovers."""
    svc, _ = services
    slug = f"v-{uuid.uuid4().hex[:8]}"
    svc.stop_vault()
    try:
        resp = _signup(client, slug=slug)
        assert resp.status_code == 503
        assert "unavailable" in resp.get_json()["message"].lower()
        assert _tenant_count(owner_dsn, slug) == 0
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["failing"] == ["vault"]
    finally:
        svc.start_vault()
    ready = client.get("/readyz").get_json()
    assert {k: ready[k] for k in ("status", "checks", "failing")} == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok", "vault": "ok"},
        "failing": [],
    }
    assert set(ready) == {"status", "checks", "failing", "details"}  # + the outbox figures
    assert _signup(client, slug=slug).status_code == 201


def test_signup_rolls_back_vault_key_when_database_fails(app, keys, owner_dsn, service_env):
    """If the database fails after the key was made, the key is deleted too (one unit)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from saas import db
    from tenants.services import commit_signup, signup_clinic

    slug = f"f-{uuid.uuid4().hex[:8]}"
    with app.test_request_context("/", base_url="http://localhost"):
        result = signup_clinic(
            db.session, keys, {**BASE, "slug": slug, "owner_email": "o@example.org"}
        )
        tid = result.tenant.id
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        # the database connection dies before the commit
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(OperationalError):
            commit_signup(db.session, keys, tid)
        db.session.remove()
    admin = hvac.Client(url=service_env["VAULT_ADDR"], token=service_env["VAULT_ADMIN_TOKEN"])
    with pytest.raises(hvac.exceptions.InvalidPath):
        admin.secrets.transit.read_key(name=f"tenant-{tid}")
    with psycopg.connect(owner_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM tenants WHERE id = %s", (tid,)).fetchone()[0] == 0


def test_signup_is_only_on_the_platform_host(make_clinic, client):
    """A clinic's host does not serve signup."""
    clinic = make_clinic()
    resp = client.post("/api/v1/signup", json={}, base_url=f"http://{clinic.host}")
    assert resp.status_code == 404
