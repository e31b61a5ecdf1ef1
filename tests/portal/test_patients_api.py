"""Patient portal registration (email first), verification and sign-in through the API."""

import re
import time

import psycopg

from saas.devmail import read_messages
from tests.helpers import text_of

PASSWORD = "remedy arnica 30C"


def _register(client, clinic, email="pat@example.org"):
    return client.post(
        "/api/v1/patients/register",
        json={"full_name": "Pat Patient", "email": email},
        base_url=f"http://{clinic.host}",
    )


def _link_token(mail_dir, email, *, count=1, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = [m for m in read_messages(mail_dir) if m["To"] == email]
        if len(msgs) >= count:
            return re.search(r"token=(\S+)", text_of(msgs[-1])).group(1)
        time.sleep(0.1)
    raise AssertionError(f"no email to {email}")


def _verify(client, clinic, token, password=PASSWORD):
    return client.post(
        "/api/v1/patients/verify",
        json={"token": token, "password": password},
        base_url=f"http://{clinic.host}",
    )


def test_register_choose_password_sign_in(make_clinic, client, worker, mail_dir):
    """Register → emailed link → choose password → portal token; the link works once."""
    clinic = make_clinic()
    email = f"pat-{clinic.slug}@example.org"
    resp = _register(client, clinic, email)
    assert resp.status_code == 202 and resp.get_json()["status"] == "link_sent"
    login = {"email": email, "password": PASSWORD}
    refused = client.post("/api/v1/patients/token", json=login, base_url=f"http://{clinic.host}")
    assert refused.status_code == 401  # no password exists yet
    token = _link_token(mail_dir, email)
    weak = _verify(client, clinic, token, "short")
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]["json"]
    ok = _verify(client, clinic, token)
    assert ok.status_code == 200 and ok.get_json()["email_verified"] is True
    assert _verify(client, clinic, token).status_code == 404  # single use
    tok = client.post("/api/v1/patients/token", json=login, base_url=f"http://{clinic.host}")
    assert tok.status_code == 201
    me = client.get(
        "/api/v1/patients/me",
        headers={"Authorization": f"Bearer {tok.get_json()['access_token']}"},
        base_url=f"http://{clinic.host}",
    )
    assert me.get_json()["email"] == email


def test_registering_a_known_email_reveals_nothing_and_cannot_take_it_over(
    make_clinic, client, worker, mail_dir, owner_dsn
):
    """Same 202 for a known address; the account's password changes only via its own email."""
    clinic = make_clinic()
    email = f"known-{clinic.slug}@example.org"
    _register(client, clinic, email)
    _verify(client, clinic, _link_token(mail_dir, email))
    with psycopg.connect(owner_dsn) as conn:
        before = conn.execute(
            "SELECT password_hash FROM patients WHERE tenant_id = %s", (clinic.id,)
        ).fetchone()[0]
    again = _register(client, clinic, email)  # e.g. an attacker
    assert (
        again.status_code == 202
        and again.get_json() == _register(client, clinic, "new@example.org").get_json()
    )
    with psycopg.connect(owner_dsn) as conn:
        after = conn.execute(
            "SELECT password_hash, count(*) OVER () FROM patients WHERE tenant_id = %s AND password_hash IS NOT NULL",
            (clinic.id,),
        ).fetchone()
    assert after == (before, 1)
    # only the owner of the mailbox gets the link; using it sets a new password (a reset)
    token = _link_token(mail_dir, email, count=2)
    assert _verify(client, clinic, token, "brand new remedy 9").status_code == 200
    tok = client.post(
        "/api/v1/patients/token",
        json={"email": email, "password": "brand new remedy 9"},
        base_url=f"http://{clinic.host}",
    )
    assert tok.status_code == 201


def test_email_is_sealed_in_the_database(make_clinic, client, owner_dsn):
    """The raw row holds no plaintext email, only ciphertext and a blind index."""
    clinic = make_clinic()
    email = f"secret-{clinic.slug}@example.org"
    assert _register(client, clinic, email).status_code == 202
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(
            "SELECT email_enc, email_index FROM patients WHERE tenant_id = %s", (clinic.id,)
        ).fetchone()
    assert email.encode() not in bytes(row[0])
    assert len(row[1]) == 64 and email not in row[1]


def test_patient_token_is_refused_on_another_clinic(make_clinic, client, worker, mail_dir):
    """A portal token of clinic A is not valid on clinic B's host."""
    a, b = make_clinic(), make_clinic()
    email = f"x-{a.slug}@example.org"
    assert _register(client, a, email).status_code == 202
    assert _verify(client, a, _link_token(mail_dir, email)).status_code == 200
    tok = client.post(
        "/api/v1/patients/token",
        json={"email": email, "password": PASSWORD},
        base_url=f"http://{a.host}",
    ).get_json()["access_token"]
    other = client.get(
        "/api/v1/patients/me",
        headers={"Authorization": f"Bearer {tok}"},
        base_url=f"http://{b.host}",
    )
    assert other.status_code == 401
    assert "email" not in other.get_json()
    assert _register(client, b, email).status_code == 202  # clinics are independent


def test_refused_sign_in_is_audited_although_it_answers_401(make_clinic, client, owner_dsn):
    """A refused portal sign-in leaves an audit entry (pseudonymous), kept despite the 401."""
    clinic = make_clinic()
    email = f"nopass-{clinic.slug}@example.org"
    assert _register(client, clinic, email).status_code == 202  # no password chosen yet
    for who in (email, f"stranger-{clinic.slug}@example.org"):
        refused = client.post(
            "/api/v1/patients/token",
            json={"email": who, "password": "guess guess 1"},
            base_url=f"http://{clinic.host}",
        )
        assert refused.status_code == 401
        assert refused.get_json()["errors"]["json"] == {
            "email": ["Email or password is incorrect."]
        }
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        (patient_id,) = conn.execute(
            "SELECT id FROM patients WHERE tenant_id = %s", (clinic.id,)
        ).fetchone()
        rows = conn.execute(
            "SELECT actor_label, actor_kind FROM audit_log WHERE tenant_id = %s "
            "AND action = 'patient.sign_in_failed' ORDER BY seq",
            (clinic.id,),
        ).fetchall()
    # a refused attempt is not the system acting: it is audited as anonymous
    assert rows == [(f"patient:{patient_id}", "anonymous"), ("-", "anonymous")]


def _verified_patient(client, clinic, mail_dir):
    email = f"pat-{clinic.slug}@example.org"
    _register(client, clinic, email)
    assert _verify(client, clinic, _link_token(mail_dir, email)).status_code == 200
    return email


def test_patient_lockout_after_five_failures(make_clinic, client, worker, mail_dir, app):
    """40 wrong passwords never end with a token: after 5 the right one is refused too."""
    from tests.conftest import new_client

    clinic = make_clinic()
    email = _verified_patient(client, clinic, mail_dir)
    host = f"http://{clinic.host}"
    for _ in range(5):
        bad = client.post(
            "/api/v1/patients/token",
            json={"email": email, "password": "wrong one 1"},
            base_url=host,
        )
        assert bad.status_code == 401 and "incorrect" in bad.get_json()["message"]
    right = new_client(app).post(
        "/api/v1/patients/token", json={"email": email, "password": PASSWORD}, base_url=host
    )
    assert right.status_code == 401 and right.get_json()["reason"] == "locked"
    unknown = client.post(
        "/api/v1/patients/token",
        json={"email": "nobody@example.org", "password": "wrong one 1"},
        base_url=host,
    )
    assert unknown.status_code == 401  # an unknown account costs and says the same


def test_patient_signs_out_and_the_token_stops_working(make_clinic, client, worker, mail_dir):
    """DELETE /patients/token revokes the token it was sent with (7-day tokens can end now)."""
    clinic = make_clinic()
    email = _verified_patient(client, clinic, mail_dir)
    host = f"http://{clinic.host}"
    tok = client.post(
        "/api/v1/patients/token", json={"email": email, "password": PASSWORD}, base_url=host
    ).get_json()["access_token"]
    auth = {"Authorization": f"Bearer {tok}"}
    assert client.get("/api/v1/patients/me", headers=auth, base_url=host).status_code == 200
    assert client.delete("/api/v1/patients/token", headers=auth, base_url=host).status_code == 204
    assert client.get("/api/v1/patients/me", headers=auth, base_url=host).status_code == 401
    assert client.delete("/api/v1/patients/token", base_url=host).status_code == 401
