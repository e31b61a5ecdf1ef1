"""Host resolution, suspension, errors, health, OpenAPI, audit chain, escaping."""

from __future__ import annotations

import psycopg

from tests.helpers import bearer


def test_unknown_clinic_and_bad_hosts(client):
    """Unknown slug → 404 page; malformed Host → 400; foreign domain → 404."""
    assert client.get("/", base_url="http://no-such-clinic.localhost").status_code == 404
    assert client.get("/", headers={"Host": "bad..host"}).status_code == 400
    assert client.get("/", headers={"Host": "a b"}).status_code == 400
    assert client.get("/", base_url="http://example.com").status_code == 404
    assert client.get("/", base_url="http://a.b.localhost").status_code == 404


def test_platform_and_clinic_pages(make_clinic, client):
    """The base domain shows the platform; a clinic's host shows that clinic."""
    clinic = make_clinic(name="Nux Vomica <b>Clinic</b>")
    home = client.get("/", base_url="http://localhost").get_data(as_text=True)
    assert "Create your clinic" in home
    page = client.get("/", base_url=f"http://{clinic.host}").get_data(as_text=True)
    assert "Nux Vomica &lt;b&gt;Clinic&lt;/b&gt;" in page  # escaped
    assert client.get("/console/", base_url="http://localhost").status_code == 404


def test_suspended_clinic(make_clinic, token_for, client, sql):
    """A suspended clinic stays reachable but read-only; a closing one is unavailable.

    Suspended: the portal says bookings are paused, the API reads and refuses writes (403).
    Closing: the page and the API answer "unavailable" (403).
    """
    clinic = make_clinic()
    token = token_for(clinic)
    sql("UPDATE tenants SET status = 'suspended' WHERE id = %s", clinic.id)
    page = client.get("/", base_url=f"http://{clinic.host}")
    assert page.status_code == 200 and b"Online booking is paused" in page.data
    api = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert api.status_code == 200 and api.get_json()["email"] == clinic.owner_email
    write = client.post(
        "/api/v1/patients",
        json={"full_name": "Kept Out"},
        headers=bearer(token),
        base_url=f"http://{clinic.host}",
    )
    assert write.status_code == 403
    assert write.get_json()["message"] == "This clinic is paused: read-only for now."
    sql("UPDATE tenants SET status = 'closing' WHERE id = %s", clinic.id)
    page = client.get("/", base_url=f"http://{clinic.host}")
    assert page.status_code == 403 and b"unavailable" in page.data
    api = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert api.status_code == 403 and api.get_json()["message"] == "This clinic is unavailable."


def test_errors_are_json_for_api_and_pages_otherwise(make_clinic, client):
    """API 404 is JSON with a message; page 404 is HTML; 405 likewise."""
    clinic = make_clinic()
    api = client.get("/api/v1/nothing", base_url=f"http://{clinic.host}")
    assert api.status_code == 404 and api.get_json()["code"] == 404
    page = client.get("/nothing", base_url=f"http://{clinic.host}")
    assert page.status_code == 404 and b"Page not found" in page.data
    assert b"Traceback" not in page.data


def test_openapi_and_health(client):
    """OpenAPI 3 is served and lists our routes; health answers with request ids."""
    spec = client.get("/api/openapi.json", base_url="http://localhost").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/signup" in spec["paths"] and "/api/v1/auth/token" in spec["paths"]
    resp = client.get("/readyz", headers={"X-Request-Id": "req-123"})
    assert resp.headers["X-Request-Id"] == "req-123"
    assert resp.get_json()["status"] == "ok"
    spoofed = client.get("/healthz", headers={"X-Request-Id": "<script>x</script>"})
    assert "<" not in spoofed.headers["X-Request-Id"] and len(spoofed.headers["X-Request-Id"]) == 32


def test_secret_bearing_pages_are_not_cached(make_clinic, client):
    """Sign-in pages and API answers carry Cache-Control: no-store; pages carry a CSP."""
    clinic = make_clinic()
    login = client.get("/login", base_url=f"http://{clinic.host}")
    assert login.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    api = client.get("/api/v1/me", base_url=f"http://{clinic.host}")
    assert api.headers["Cache-Control"] == "no-store"


def test_audit_chain_is_intact_and_detects_tampering(two_clinics, app, client, owner_dsn):
    """Each clinic's audit chain verifies; altering an entry breaks it at that entry."""
    from saas import audit, db

    (a, token), _ = two_clinics
    entries = client.get(
        "/api/v1/audit", headers=bearer(token), base_url=f"http://{a.host}"
    ).get_json()
    assert {e["action"] for e in entries} >= {
        "tenant.created",
        "auth.sign_in",
        "mfa.enrolled",
        "auth.token_issued",
    }
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    with app.app_context(), db.tenant_session(a.id) as sess:
        assert audit.verify_chain(sess, a.id) is None
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE audit_log SET actor_label = 'mallory' WHERE tenant_id = %s AND seq = 2", (a.id,)
        )
    with app.app_context(), db.tenant_session(a.id) as sess:
        assert audit.verify_chain(sess, a.id) == 2


def test_https_deployment_sets_secure_cookies_and_hsts(make_clinic):
    """With SAAS_PUBLIC_SCHEME=https the session cookie is Secure and HSTS is sent."""
    import pyotp

    from saas.app import create_app
    from tests.conftest import make_config, new_client
    from tests.factories import PASSWORD, add_staff
    from tests.helpers import csrf_from

    clinic = make_clinic()
    https_app = create_app(make_config(public_scheme="https", public_port=None))
    email, secret = add_staff(https_app, clinic, "admin")
    client = new_client(https_app)
    base = f"https://{clinic.host}"
    page = client.get("/login", base_url=base)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # under HTTPS the CSRF check also wants a same-origin Referer, as browsers send
    no_referer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
        base_url=base,
    )
    assert no_referer.status_code == 400
    ref = {"Referer": f"{base}/login"}
    client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
        base_url=base,
        headers=ref,
    )
    mfa = client.get("/login/mfa", base_url=base)
    done = client.post(
        "/login/mfa",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(mfa.data)},
        base_url=base,
        headers=ref,
    )
    cookie = done.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert done.status_code == 302 and done.location.endswith("/console/")
    https_app.extensions["similia.engine"].dispose()


def test_logs_are_json_lines_with_request_and_tenant_ids(make_clinic, token_for, client):
    """Each request writes one JSON line carrying its request id, tenant id and status."""
    import io
    import json
    import logging

    clinic = make_clinic()
    token = token_for(clinic)
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        client.get(
            "/api/v1/me",
            headers={**bearer(token), "X-Request-Id": "trace-42"},
            base_url=f"http://{clinic.host}",
        )
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    [access] = [
        e for e in lines if e.get("event") == "request" and e.get("request_id") == "trace-42"
    ]
    assert access["tenant_id"] == str(clinic.id)
    assert access["status"] == 200 and access["method"] == "GET" and access["path"] == "/api/v1/me"
    assert access["level"] == "info" and "timestamp" in access


def test_api_docs_work_offline(client):
    """Swagger UI and its assets are served by the app itself (no CDN)."""
    page = client.get("/api/docs", base_url="http://localhost").get_data(as_text=True)
    assert "/api/docs-assets/swagger-ui-bundle.js" in page and "cdn." not in page
    js = client.get("/api/docs-assets/swagger-ui-bundle.js", base_url="http://localhost")
    assert js.status_code == 200 and "javascript" in js.mimetype and len(js.data) > 100_000
    assert client.get("/api/docs-assets/../app.py", base_url="http://localhost").status_code == 404
