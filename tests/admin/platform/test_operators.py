"""Operator accounts: TOTP always, own sessions and cookies, short idle time, audited."""

from __future__ import annotations

import pyotp
import pytest
from click.testing import CliRunner

from tests.admin.clinic.console import Console
from tests.admin.platform.conftest import PASSWORD, PLATFORM, Ops
from tests.client import new_client
from tests.helpers import csrf_from


def _platform_log(owner_dsn, **where):
    import psycopg

    sql = "SELECT action, actor_label, clinic_id, data FROM platform_audit_log"
    params = []
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = %s" for k in where)
        params = list(where.values())
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute(sql + " ORDER BY seq", params).fetchall()


def test_cli_creates_an_operator_with_totp(app, owner_dsn):
    """``saas operators create`` stores a hashed password and a sealed TOTP secret, once."""
    from saas.cli import main

    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "operators",
            "create",
            "--email",
            "Cli.Op@Similia.example",
            "--name",
            "Cli",
            "--role",
            "support",
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    secret = result.output.split("TOTP secret: ")[1].split()[0]
    import psycopg

    with psycopg.connect(owner_dsn) as conn:
        row = conn.execute(
            "SELECT role, password_hash, totp_secret FROM operators WHERE email = %s",
            ("cli.op@similia.example",),
        ).fetchone()
    assert row[0] == "support" and row[1].startswith("$argon2id$")
    assert secret not in row[2] and len(row[2]) > 40  # sealed, not stored in clear
    again = runner.invoke(
        main,
        ["operators", "create", "--email", "cli.op@similia.example", "--name", "Cli"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert again.exit_code != 0 and "exists already" in again.output
    weak = runner.invoke(
        main,
        [
            "operators",
            "create",
            "--email",
            "weak@similia.example",
            "--name",
            "W",
            "--role",
            "admin",
        ],
        input="password\npassword\n",
    )
    assert weak.exit_code != 0


def test_sign_in_needs_password_and_totp(app, operator, owner_dsn):
    """A right password alone never signs in; a wrong code is refused and audited."""
    account = operator("support")
    c = new_client(app)
    assert c.get("/ops/tenants", base_url=PLATFORM).location.endswith("/ops/login")
    page = c.get("/ops/login", base_url=PLATFORM)
    bad = c.post(
        "/ops/login",
        data={
            "email": account.email,
            "password": "wrong-password",
            "csrf_token": csrf_from(page.data),
        },
        base_url=PLATFORM,
    )
    assert bad.status_code == 401 and b"Email or password is incorrect" in bad.data
    r = c.post(
        "/ops/login",
        data={"email": account.email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
        base_url=PLATFORM,
    )
    assert r.status_code == 302
    # password checked, code pending: still not signed in
    assert c.get("/ops/tenants", base_url=PLATFORM).location.endswith("/ops/login")
    code_page = c.get("/ops/login/code", base_url=PLATFORM)
    wrong = str((int(account.code()) + 1) % 1_000_000).zfill(6)
    r = c.post(
        "/ops/login/code",
        data={"code": wrong, "csrf_token": csrf_from(code_page.data)},
        base_url=PLATFORM,
    )
    assert r.status_code == 401
    actions = [a for a, *_ in _platform_log(owner_dsn, actor_label=account.email)]
    assert "operator.sign_in_failed" in actions and "operator.mfa_failed" in actions
    ops = Ops(app, account)
    assert "Clinics" in ops.text("/ops/tenants")
    actions = [a for a, *_ in _platform_log(owner_dsn, actor_label=account.email)]
    assert actions[-1] == "operator.signed_in"


def test_a_code_is_accepted_once(app, operator):
    """Replaying the code just used does not sign in a second client."""
    account = operator()
    first = Ops(app, account)
    assert first.get("/ops/tenants").status_code == 200
    c = new_client(app)
    page = c.get("/ops/login", base_url=PLATFORM)
    c.post(
        "/ops/login",
        data={"email": account.email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
        base_url=PLATFORM,
    )
    code_page = c.get("/ops/login/code", base_url=PLATFORM)
    from sqlalchemy import text

    with app.app_context():
        from saas.db import _factory

        sess = _factory(bind=app.extensions["similia.ops_engine"])
        step = sess.execute(
            text("SELECT totp_last_step FROM operators WHERE id = :i"), {"i": account.id}
        ).scalar()
        sess.close()
    used = pyotp.TOTP(account.secret).generate_otp(step)
    r = c.post(
        "/ops/login/code",
        data={"code": used, "csrf_token": csrf_from(code_page.data)},
        base_url=PLATFORM,
    )
    assert r.status_code == 401


def test_staff_and_operator_sessions_never_cross(app, make_clinic, operator):
    """A clinic session does not open /ops, and an operator session opens no console."""
    clinic = make_clinic()
    staff = Console(app, clinic, "owner")
    ops = Ops(app, operator())
    staff_sid = staff.client.get_cookie("similia_session", domain=clinic.host).value
    ops_cookie = ops.client.get_cookie("similia_ops", domain="localhost", path="/ops")
    assert ops_cookie is not None and ops_cookie.path == "/ops"
    assert ops.client.get_cookie("similia_session", domain="localhost") is None

    # the staff member's session id presented as an operator cookie: not signed in
    c = new_client(app)
    c.set_cookie("similia_ops", staff_sid, domain="localhost", path="/ops")
    assert c.get("/ops/tenants", base_url=PLATFORM).location.endswith("/ops/login")
    c.set_cookie("similia_session", staff_sid, domain="localhost")
    assert c.get("/ops/tenants", base_url=PLATFORM).location.endswith("/ops/login")

    # the operator's session id presented on a clinic host: not signed in there
    d = new_client(app)
    d.set_cookie("similia_session", ops_cookie.value, domain=clinic.host)
    r = d.get("/console/", base_url=f"http://{clinic.host}")
    assert r.status_code == 302 and "/login" in r.location
    # /ops does not exist on a clinic host at all
    assert staff.get("/ops/tenants").status_code == 404
    # and both real sessions still work
    assert staff.get("/console/").status_code == 200
    assert ops.get("/ops/tenants").status_code == 200


def test_idle_operator_session_expires(app, operator):
    """The operator session lives 15 minutes from the last request (Redis TTL), then ends."""
    ops = Ops(app, operator())
    redis = app.extensions["similia.redis"]
    sid = ops.client.get_cookie("similia_ops", domain="localhost", path="/ops").value
    ttl = redis.ttl(f"opsession:{sid}")
    assert 0 < ttl <= 900
    assert redis.get(f"session:{sid}") is None  # not a clinic session
    redis.delete(f"opsession:{sid}")  # as if 15 idle minutes had passed
    assert ops.get("/ops/tenants").location.endswith("/ops/login")


def test_deactivated_operator_is_signed_out(app, operator, owner_dsn):
    """Deactivating an operator ends their session at the next request."""
    import psycopg

    account = operator()
    ops = Ops(app, account)
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("UPDATE operators SET is_active = false WHERE id = %s", (account.id,))
    assert ops.get("/ops/tenants").location.endswith("/ops/login")


def test_platform_audit_chain_verifies_and_detects_tampering(app, ops, owner_dsn):
    """The platform log is hash-chained: intact after sign-ins, broken by an edit."""
    import psycopg

    from admin.platform import audit
    from saas.db import _factory

    def broken():
        with app.app_context():
            sess = _factory(bind=app.extensions["similia.ops_engine"])
            try:
                return audit.verify_chain(sess)
            finally:
                sess.close()

    assert broken() is None
    assert "The chain is intact" in ops.text("/ops/audit")
    with psycopg.connect(owner_dsn) as conn:
        seq = conn.execute("SELECT max(seq) FROM platform_audit_log").fetchone()[0]
        conn.execute(
            "UPDATE platform_audit_log SET actor_label = 'someone-else' WHERE seq = %s", (seq,)
        )
    try:
        assert broken() == seq
    finally:
        with psycopg.connect(owner_dsn) as conn:  # put it back for the other tests
            conn.execute(
                "UPDATE platform_audit_log SET actor_label = %s WHERE seq = %s",
                (ops.account.email, seq),
            )


@pytest.mark.parametrize("path", ["/ops/login", "/ops/tenants"])
def test_ops_pages_are_not_cached(app, ops, path):
    """Operator pages carry Cache-Control: no-store."""
    assert ops.get(path, follow_redirects=True).headers["Cache-Control"] == "no-store"


def test_health_page_shows_dependencies_and_dead_letters(app, ops):
    """/ops/health reads Postgres, Redis, Vault and dramatiq's keys as they are."""
    import re

    redis = app.extensions["similia.redis"]

    def dead(html: str) -> int:
        row = re.search(r'data-queue="records">.*?</tr>', html, re.S).group(0)
        return int(re.findall(r'<td class="num">(\d+)</td>', row)[2])

    html = ops.text("/ops/health")
    for name in ("Postgres", "Redis", "Vault"):
        assert f'data-check="{name}">{name}: <strong>answering' in html
    before = dead(html)
    redis.zadd("dramatiq:records.XQ", {"probe-ops-health": 1})
    try:
        assert dead(ops.text("/ops/health")) == before + 1
    finally:
        redis.zrem("dramatiq:records.XQ", "probe-ops-health")
    assert "Health" in ops.text("/ops/tenants")  # linked from every page
