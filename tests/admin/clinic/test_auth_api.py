"""API tokens, the caller, TOTP replay, lockout and cross-clinic refusal on every route."""

from __future__ import annotations

import re
import threading
import uuid

import psycopg
import pyotp
import pytest

from tests.conftest import make_config, new_client
from tests.helpers import bearer


def _token_request(client, clinic, **override):
    body = {
        "email": clinic.owner_email,
        "password": clinic.password,
        "otp": pyotp.TOTP(clinic.totp_secret).now(),
        **override,
    }
    return client.post("/api/v1/auth/token", json=body, base_url=f"http://{clinic.host}")


def test_token_me_and_revoke(make_clinic, client, owner_dsn):
    """A token works, is stored hashed, expires, and stops working once revoked."""
    clinic = make_clinic()
    resp = _token_request(client, clinic)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    token = body["access_token"]
    with psycopg.connect(owner_dsn) as conn:
        stored = conn.execute(
            "SELECT token_hash FROM api_tokens WHERE tenant_id = %s", (clinic.id,)
        ).fetchall()
    assert len(stored) == 1 and token not in stored[0][0]
    me = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert me.get_json()["permissions"] and me.get_json()["mfa_enrolled"] is True
    gone = client.delete(
        "/api/v1/auth/token", headers=bearer(token), base_url=f"http://{clinic.host}"
    )
    assert gone.status_code == 204
    after = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert after.status_code == 401


def test_expired_token_is_refused(make_clinic, token_for, client, owner_dsn):
    """Tokens past their expiry are refused."""
    clinic = make_clinic()
    token = token_for(clinic)
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE tenant_id = %s",
            (clinic.id,),
        )
    resp = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert resp.status_code == 401
    assert "expired" in resp.get_json()["message"]


def test_missing_or_garbage_token(make_clinic, client):
    """No token → 401 JSON; a made-up one → 401."""
    clinic = make_clinic()
    assert client.get("/api/v1/me", base_url=f"http://{clinic.host}").status_code == 401
    resp = client.get("/api/v1/me", headers=bearer("sim_nope"), base_url=f"http://{clinic.host}")
    assert resp.status_code == 401 and resp.is_json


def test_a_totp_code_is_accepted_once(make_clinic, client):
    """The same code cannot be used twice, even sequentially."""
    clinic = make_clinic()
    code = pyotp.TOTP(clinic.totp_secret).now()
    assert _token_request(client, clinic, otp=code).status_code == 201
    again = _token_request(new_client(client.application), clinic, otp=code)
    assert again.status_code == 401


def test_concurrent_totp_replay_exactly_one_success(make_clinic, app):
    """Eight requests carrying the same code at the same moment: exactly one token."""
    clinic = make_clinic()
    code = pyotp.TOTP(clinic.totp_secret).now()
    barrier = threading.Barrier(8)
    statuses = []

    def attempt():
        c = new_client(app)
        barrier.wait()
        statuses.append(_token_request(c, clinic, otp=code).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [401] * 7


def test_concurrent_replay_of_an_enrolled_users_code(make_clinic, app):
    """The same race through the second-factor path of an enrolled user: one token only."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "practitioner")
    code = pyotp.TOTP(secret).now()
    barrier = threading.Barrier(6)
    statuses = []

    def attempt():
        c = new_client(app)
        barrier.wait()
        statuses.append(
            _token_request(c, clinic, email=email, password=PASSWORD, otp=code).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [401] * 5


def test_parallel_guesses_cannot_exceed_the_lockout(make_clinic, app, owner_dsn):
    """Twenty wrong passwords at once from different addresses: at most five are checked."""
    clinic = make_clinic()
    barrier = threading.Barrier(20)
    messages = []

    def attempt(n):
        c = new_client(app)
        barrier.wait()
        messages.append(
            _token_request(c, clinic, password=f"wrong guess {n}").get_json()["message"]
        )

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(owner_dsn) as conn:
        checked = conn.execute(
            "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'auth.failure'",
            (clinic.id,),
        ).fetchone()[0]
    assert checked == 5
    assert messages.count("Email or password is incorrect.") == 5


def test_password_reset_revokes_api_tokens(make_clinic, token_for, app, client):
    """After a reset, bearer tokens issued before it stop working."""
    from saas import db
    from saas.models import Tenant
    from saas.security import auth

    clinic = make_clinic()
    token = token_for(clinic)
    with app.test_request_context("/", base_url=f"http://{clinic.host}"):
        app.preprocess_request()
        tenant = db.session.get(Tenant, clinic.id)
        reset = auth.start_password_reset(db.session, tenant, clinic.owner_email)
        other = auth.start_password_reset(db.session, tenant, clinic.owner_email)
        assert auth.finish_password_reset(db.session, tenant, reset, "another good pass 7")
        db.session.commit()
        assert not auth.reset_is_valid(db.session, tenant, other)  # other links die too
        db.session.remove()
    resp = client.get("/api/v1/me", headers=bearer(token), base_url=f"http://{clinic.host}")
    assert resp.status_code == 401


def test_lockout_after_repeated_failures_is_generic(make_clinic, app):
    """Five wrong passwords lock the account, even for the right one after.

    An unknown email gets the same message; the audit log records the failures.
    """
    clinic = make_clinic()
    client = new_client(app)
    for _ in range(5):
        bad = _token_request(client, clinic, password="wrong password 1")
        assert bad.status_code == 401
        assert bad.get_json()["message"] == "Email or password is incorrect."
    locked = _token_request(new_client(app), clinic)  # right password, other address
    assert locked.status_code == 401
    assert "Too many failed attempts" in locked.get_json()["message"]
    unknown = _token_request(client, clinic, email="nobody@example.org")
    assert unknown.get_json()["message"] == bad.get_json()["message"]


def test_lockout_per_address(make_clinic, app):
    """Many failures from one address across emails lock that address."""
    from saas.security import auth

    clinic = make_clinic()
    client = new_client(app)
    limit = app.config["SIMILIA"].login_ip_max_failures
    for n in range(limit):
        _token_request(client, clinic, email=f"guess{n}@example.org")
    resp = _token_request(client, clinic)
    assert resp.status_code == 401 and resp.get_json()["message"] == auth.LOCKED


def test_token_of_clinic_a_is_refused_on_clinic_b(two_clinics, client):
    """A bearer token is bound to its clinic's host."""
    (a, token_a), (b, _) = two_clinics
    resp = client.get("/api/v1/me", headers=bearer(token_a), base_url=f"http://{b.host}")
    assert resp.status_code == 401
    assert a.owner_email not in resp.get_data(as_text=True)


def _api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and not rule.rule.startswith("/api/v1/signup"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _fill(rule, value: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", value, rule.rule)


def test_every_api_route_refuses_other_clinics(two_clinics, app):
    """On every API route, A's token on B's host is refused and B's ids leak nothing.

    Statuses are 401/403/404/405/409/422, never 2xx with B's data, never 5xx.
    """
    (a, token_a), (b, token_b) = two_clinics
    client = new_client(app)
    checked = 0
    for rule, method in _api_routes(app):
        for host, token, ids in (
            (b.host, token_a, str(b.owner_id)),
            (a.host, token_a, str(b.owner_id)),
        ):
            path = _fill(rule, ids)
            resp = client.open(
                path, method=method, headers=bearer(token), json={}, base_url=f"http://{host}"
            )
            text = resp.get_data(as_text=True)
            assert resp.status_code < 500, (method, path, host, text)
            assert b.owner_email not in text or host == b.host and resp.status_code >= 400, (
                method,
                path,
            )
            if host == b.host:
                public = rule.rule.startswith(
                    (
                        "/api/v1/patients/register",
                        "/api/v1/patients/verify",
                        "/api/v1/patients/token",
                        "/api/v1/auth/token",
                        "/api/v1/slots",
                    )
                )
                if not public:
                    assert resp.status_code in (401, 403, 404, 405, 422), (
                        method,
                        path,
                        resp.status_code,
                    )
            checked += 1
    assert checked >= 8


def test_protected_routes_without_a_token_are_401(make_clinic, app):
    """No credentials → 401 (auth is checked before the body is parsed)."""
    clinic = make_clinic()
    client = new_client(app)
    for path, method in (
        ("/api/v1/me", "GET"), ("/api/v1/staff", "GET"), ("/api/v1/audit", "GET"),
        ("/api/v1/staff/invitations", "POST"), ("/api/v1/clinic", "PATCH"),
        (f"/api/v1/staff/{clinic.owner_id}/role", "PUT"), ("/api/v1/auth/token", "DELETE"),
    ):  # fmt: skip
        resp = client.open(path, method=method, json={}, base_url=f"http://{clinic.host}")
        assert resp.status_code == 401, (method, path, resp.get_json())


def test_changing_another_clinics_staff_role_is_404(two_clinics, client, owner_dsn):
    """B's user id on A's host with a valid body is a 404, and B's user is unchanged."""
    (a, token_a), (b, _) = two_clinics
    resp = client.put(
        f"/api/v1/staff/{b.owner_id}/role",
        json={"role": "receptionist"},
        headers=bearer(token_a),
        base_url=f"http://{a.host}",
    )
    assert resp.status_code == 404
    with psycopg.connect(owner_dsn) as conn:
        role = conn.execute("SELECT role FROM users WHERE id = %s", (b.owner_id,)).fetchone()[0]
    assert role == "owner"


def test_pool_of_one_connection_never_leaks_between_clinics(two_clinics, service_env):
    """1,000 interleaved requests for A and B through one pooled connection.

    Not one row of the other clinic ever appears.
    """
    from sqlalchemy import select

    from saas import db
    from saas.app import create_app
    from saas.models import User

    (a, token_a), (b, token_b) = two_clinics
    app1 = create_app(make_config(db_pool_size=1, extra={"db_max_overflow": 0}))
    client = new_client(app1)
    leaks = 0
    for i in range(1000):
        clinic, token, other = (a, token_a, b) if i % 2 == 0 else (b, token_b, a)
        if i % 4 < 2:  # through the HTTP stack
            resp = client.get(
                "/api/v1/staff", headers=bearer(token), base_url=f"http://{clinic.host}"
            )
            emails = {u["email"] for u in resp.get_json()}
        else:  # the request pipeline binds the clinic; the query itself has no WHERE at all
            with app1.test_request_context("/", base_url=f"http://{clinic.host}"):
                app1.preprocess_request()
                emails = set(db.session.scalars(select(User.email)))
                db.session.remove()
        assert clinic.owner_email in emails
        leaks += other.owner_email in emails
    assert leaks == 0
    assert app1.extensions["similia.engine"].pool.size() == 1
    app1.extensions["similia.engine"].dispose()


def test_role_change_and_permissions(make_clinic, token_for, client, app):
    """Owner promotes/demotes; the last owner cannot be demoted; invalid role → 422."""
    clinic = make_clinic()
    token = token_for(clinic)
    host = f"http://{clinic.host}"
    me = client.put(
        f"/api/v1/staff/{clinic.owner_id}/role",
        json={"role": "admin"},
        headers=bearer(token),
        base_url=host,
    )
    assert me.status_code == 409 and "at least one owner" in me.get_json()["message"]
    bad = client.put(
        f"/api/v1/staff/{clinic.owner_id}/role",
        json={"role": "god"},
        headers=bearer(token),
        base_url=host,
    )
    assert bad.status_code == 422 and "role" in bad.get_json()["errors"]["json"]
    missing = client.put(
        f"/api/v1/staff/{uuid.uuid4()}/role",
        json={"role": "admin"},
        headers=bearer(token),
        base_url=host,
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("role", ["receptionist", "practitioner"])
def test_staff_without_permission_cannot_invite_or_read_audit(
    make_clinic, token_for, client, app, role
):
    """RBAC: receptionists and practitioners get 403 for invitations and the audit log."""
    from tests.factories import add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, role)
    token = token_for(clinic, email=email, secret=secret)
    host = f"http://{clinic.host}"
    inv = client.post(
        "/api/v1/staff/invitations",
        json={"email": "n@example.org", "name": "N", "role": "admin"},
        headers=bearer(token),
        base_url=host,
    )
    assert inv.status_code == 403
    assert client.get("/api/v1/audit", headers=bearer(token), base_url=host).status_code == 403
    assert client.get("/api/v1/staff", headers=bearer(token), base_url=host).status_code == 200


def test_only_owners_grant_or_remove_the_owner_role(make_clinic, token_for, client, app):
    """An admin may invite and manage staff, but not invite an owner or demote one."""
    from tests.factories import add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "admin")
    token = token_for(clinic, email=email, secret=secret)
    host = f"http://{clinic.host}"
    inv = client.post(
        "/api/v1/staff/invitations",
        json={"email": "boss@example.org", "name": "B", "role": "owner"},
        headers=bearer(token),
        base_url=host,
    )
    assert inv.status_code == 422 and "owner" in inv.get_json()["errors"]["json"]["role"][0]
    demote = client.put(
        f"/api/v1/staff/{clinic.owner_id}/role",
        json={"role": "receptionist"},
        headers=bearer(token),
        base_url=host,
    )
    assert demote.status_code == 403
    ok = client.post(
        "/api/v1/staff/invitations",
        json={"email": "dr@example.org", "name": "Dr", "role": "practitioner"},
        headers=bearer(token),
        base_url=host,
    )
    assert ok.status_code == 201
