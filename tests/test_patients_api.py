"""Patient portal registration, verification and sign-in through the API."""

import re

import psycopg

from saas.devmail import read_messages


def _register(client, clinic, email="pat@example.org"):
    return client.post(
        "/api/v1/patients/register",
        json={"full_name": "Pat Patient", "email": email, "password": "remedy arnica 30C"},
        base_url=f"http://{clinic.host}",
    )


def test_register_verify_sign_in(make_clinic, client, worker, mail_dir):
    """A patient registers, follows the emailed link, then gets a portal token."""
    clinic = make_clinic()
    email = f"pat-{clinic.slug}@example.org"
    resp = _register(client, clinic, email)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["email_verified"] is False
    login = {"email": email, "password": "remedy arnica 30C"}
    refused = client.post("/api/v1/patients/token", json=login, base_url=f"http://{clinic.host}")
    assert refused.status_code == 403

    worker_broker = worker.broker
    worker_broker.join("outbox", timeout=20_000)
    msgs = [m for m in read_messages(mail_dir) if m["To"] == email]
    assert msgs, "verification email not delivered"
    token = re.search(r"token=(\S+)", msgs[-1].get_content()).group(1)
    ok = client.post("/api/v1/patients/verify", json={"token": token}, base_url=f"http://{clinic.host}")
    assert ok.get_json()["email_verified"] is True
    again = client.post("/api/v1/patients/verify", json={"token": token}, base_url=f"http://{clinic.host}")
    assert again.status_code == 404

    tok = client.post("/api/v1/patients/token", json=login, base_url=f"http://{clinic.host}")
    assert tok.status_code == 201
    me = client.get(
        "/api/v1/patients/me",
        headers={"Authorization": f"Bearer {tok.get_json()['access_token']}"},
        base_url=f"http://{clinic.host}",
    )
    assert me.get_json()["email"] == email


def test_duplicate_registration_is_409(make_clinic, client):
    """The same email cannot register twice at one clinic; another clinic is independent."""
    a, b = make_clinic(), make_clinic()
    assert _register(client, a).status_code == 201
    dup = _register(client, a)
    assert dup.status_code == 409
    assert "email" in dup.get_json()["errors"]["json"]
    assert _register(client, b).status_code == 201


def test_email_is_sealed_in_the_database(make_clinic, client, owner_dsn):
    """The raw row holds no plaintext email, only ciphertext and a blind index."""
    clinic = make_clinic()
    email = f"secret-{clinic.slug}@example.org"
    assert _register(client, clinic, email).status_code == 201
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(
            "SELECT email_enc, email_index FROM patients WHERE tenant_id = %s", (clinic.id,)
        ).fetchone()
    assert email.encode() not in bytes(row[0])
    assert len(row[1]) == 64 and email not in row[1]


def test_patient_token_is_refused_on_another_clinic(make_clinic, client, owner_dsn):
    """A portal token of clinic A is not valid on clinic B's host."""
    a, b = make_clinic(), make_clinic()
    email = f"x-{a.slug}@example.org"
    assert _register(client, a, email).status_code == 201
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("UPDATE patients SET email_verified_at = now() WHERE tenant_id = %s", (a.id,))
    tok = client.post(
        "/api/v1/patients/token", json={"email": email, "password": "remedy arnica 30C"},
        base_url=f"http://{a.host}",
    ).get_json()["access_token"]
    other = client.get("/api/v1/patients/me", headers={"Authorization": f"Bearer {tok}"}, base_url=f"http://{b.host}")
    assert other.status_code == 401
    assert "email" not in other.get_json()
