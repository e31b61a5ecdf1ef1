"""Account protection on staff sign-in.

A safe ``next``, a fixed lock window, strong passwords and IANA time zones only.
"""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.conftest import new_client
from tests.helpers import post_form


@pytest.mark.parametrize(
    "nxt",
    [
        "/%09/evil.example/x",
        "//evil.example/x",
        "/%5Cevil.example",
        "https://evil.example/",
        "/console/%0D%0ASet-Cookie:%20x=1",
    ],
)
def test_next_after_sign_in_stays_on_this_host(make_clinic, app, nxt):
    """A crafted ``next`` never leaves the clinic's host and never breaks the sign-in."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "admin")
    client = new_client(app)
    first = post_form(
        client, f"/login?next={nxt}", clinic.host, {"email": email, "password": PASSWORD}
    )
    assert first.status_code == 302 and "evil" not in first.location
    done = post_form(
        client,
        first.location.replace(f"http://{clinic.host}", ""),
        clinic.host,
        {"code": pyotp.TOTP(secret).now()},
    )
    assert done.status_code == 302
    assert done.location in ("/console/", f"http://{clinic.host}/console/")


def test_a_relative_next_is_kept(make_clinic, app):
    """A same-host path survives both steps of sign-in."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "admin")
    client = new_client(app)
    first = post_form(
        client, "/login?next=/console/staff", clinic.host, {"email": email, "password": PASSWORD}
    )
    done = post_form(
        client,
        first.location.replace(f"http://{clinic.host}", ""),
        clinic.host,
        {"code": pyotp.TOTP(secret).now()},
    )
    assert done.location.endswith("/console/staff")


def test_lock_window_is_fixed_from_the_first_failure(make_clinic, app):
    """Attempts after the first (right or wrong) never extend the lock window."""
    from saas.security.auth import _keys

    clinic = make_clinic()
    redis = app.extensions["similia.redis"]
    client = new_client(app)
    ip = client.environ_base["REMOTE_ADDR"]
    key = _keys(clinic.id, clinic.owner_email, ip)[0]
    body = {"email": clinic.owner_email, "password": "wrong guess 1", "otp": "000000"}
    client.post("/api/v1/auth/token", json=body, base_url=f"http://{clinic.host}")
    first_ttl = redis.pttl(key)
    assert first_ttl > 0
    time.sleep(1.2)
    for password in ("wrong guess 2", clinic.password):
        client.post(
            "/api/v1/auth/token",
            json={**body, "password": password},
            base_url=f"http://{clinic.host}",
        )
    assert 0 < redis.pttl(key) <= first_ttl - 1000


@pytest.mark.parametrize("password", ["password123", "Password123!", "abcdefghij1", "qwertyuiop12"])
def test_weak_passwords_are_refused_at_signup(client, password):
    """Common and patterned passwords get a clear message naming the field."""
    resp = client.post(
        "/api/v1/signup",
        json={
            "name": "Weak Clinic",
            "slug": "weak-clinic-x",
            "timezone": "Europe/London",
            "country": "GB",
            "owner_name": "Olive Owner",
            "owner_email": "owner@weak.example.org",
            "password": password,
        },
        base_url="http://localhost",
    )
    assert resp.status_code == 422
    assert "too easy to guess" in resp.get_json()["errors"]["json"]["password"][0]


def test_password_made_of_the_clinic_name_is_refused(client):
    """Words the owner typed into the form count as guessable."""
    resp = client.post(
        "/api/v1/signup",
        json={
            "name": "Arnica Montana Clinic",
            "slug": "arnica-montana",
            "timezone": "Europe/London",
            "country": "GB",
            "owner_name": "Olive Owner",
            "owner_email": "olive@arnica.example.org",
            "password": "arnica montana",
        },
        base_url="http://localhost",
    )
    assert resp.status_code == 422 and "password" in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posix/Europe/Berlin", "right/UTC"])
def test_only_iana_time_zones_are_accepted(client, zone):
    """The server's own zone and the posix/right trees are not clinic time zones."""
    resp = client.post(
        "/api/v1/signup",
        json={
            "name": "Zone Clinic",
            "slug": "zone-clinic-x",
            "timezone": zone,
            "country": "GB",
            "owner_name": "Olive Owner",
            "owner_email": "owner@zone.example.org",
            "password": "correct horse 42",
        },
        base_url="http://localhost",
    )
    assert resp.status_code == 422 and "timezone" in resp.get_json()["errors"]["json"]


def test_wrong_code_after_right_password_names_the_code(make_clinic, client):
    """The token API says the code failed (not "email or password"), as the page does."""
    clinic = make_clinic()
    resp = client.post(
        "/api/v1/auth/token",
        json={"email": clinic.owner_email, "password": clinic.password, "otp": "000000"},
        base_url=f"http://{clinic.host}",
    )
    assert resp.status_code == 401 and "sign-in code" in resp.get_json()["message"]


@pytest.mark.parametrize(
    "name", ["Arnica\r\nBcc: victim@example.org", "Tab\tClinic", "Line\u2028Sep"]
)
def test_clinic_names_are_single_line(make_clinic, token_for, client, name):
    """Line breaks in a clinic name (which ends up in email subjects) are refused everywhere."""
    resp = client.post(
        "/api/v1/signup",
        json={
            "name": name,
            "slug": "crlf-clinic",
            "timezone": "Europe/London",
            "country": "GB",
            "owner_name": "Olive Owner",
            "owner_email": "owner@crlf.example.org",
            "password": "correct horse 42",
        },
        base_url="http://localhost",
    )
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]["json"]
    clinic = make_clinic()
    patch = client.patch(
        "/api/v1/settings/clinic",
        json={"name": name},
        headers={"Authorization": f"Bearer {token_for(clinic)}"},
        base_url=f"http://{clinic.host}",
    )
    assert patch.status_code == 422 and "name" in patch.get_json()["errors"]["json"]


def test_mail_subject_with_a_line_break_is_still_delivered(service_env, mail_dir):
    """A subject written before names were checked is sent on one line, not dropped."""
    import uuid

    from saas.mail import send_email

    marker = uuid.uuid4().hex
    send_email(
        service_env["SMTP_URL"],
        "Similia <no-reply@similia.localhost>",
        f"{marker}@example.org",
        "Old\r\nClinic name",
        "Body",
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        found = [p for p in mail_dir.glob("*.eml") if marker in p.read_text(errors="replace")]
        if found:
            break
        time.sleep(0.1)
    assert found and "Subject: Old Clinic name" in found[0].read_text()
