"""Staff pages: signup hand-off, MFA enrolment, sign-in, CSRF, sessions, reset, invitations."""

from __future__ import annotations

import re
import time
import uuid

import psycopg
import pyotp

from saas.devmail import read_messages
from tests.conftest import new_client
from tests.helpers import bearer, csrf_from, post_form, text_of


def _wait_mail(mail_dir, to: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = [m for m in read_messages(mail_dir) if m["To"] == to]
        if msgs:
            return msgs[-1]
        time.sleep(0.1)
    raise AssertionError(f"no email to {to}")


def test_signup_page_hands_off_to_enrolment_then_console(app, owner_dsn):
    """Platform signup → clinic host → TOTP enrolment → recovery codes → console."""
    client = new_client(app)
    slug = f"p-{uuid.uuid4().hex[:8]}"
    resp = post_form(
        client,
        "/signup",
        "localhost",
        {
            "name": "Calendula Practice",
            "slug": slug.upper(),
            "country": "DE",
            "timezone": "Europe/Berlin",
            "owner_name": "Dr. Lena Fischer",
            "owner_email": f"lena@{slug}.example.org",
            "password": "potentised 30C remedy",
        },
    )
    assert resp.status_code == 302
    assert resp.location.startswith(f"http://{slug}.localhost:8000/auth/handoff?t=")
    handoff = resp.location.split(":8000", 1)[1]
    host = f"{slug}.localhost"
    enrol = client.get(handoff, base_url=f"http://{host}", follow_redirects=True)
    page = enrol.get_data(as_text=True)
    assert "Set up two-step sign-in" in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    # the hand-off link is single use
    assert new_client(app).get(handoff, base_url=f"http://{host}").status_code == 404
    wrong = client.post(
        "/mfa/enrol",
        data={"code": "000000", "csrf_token": csrf_from(page)},
        base_url=f"http://{host}",
    )
    assert wrong.status_code == 422 and b"did not match" in wrong.data
    done = client.post(
        "/mfa/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)},
        base_url=f"http://{host}",
    )
    codes = re.findall(r"<li>([0-9a-f]{8}-[0-9a-f]{8})</li>", done.get_data(as_text=True))
    assert len(codes) == 10
    console = client.get("/console/", base_url=f"http://{host}")
    assert console.status_code == 200
    assert "Dr. Lena Fischer" in console.get_data(as_text=True)
    with psycopg.connect(owner_dsn) as conn:
        row = conn.execute(
            "SELECT u.mfa_enrolled_at IS NOT NULL, t.currency FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = %s",
            (slug,),
        ).fetchone()
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT a.action FROM audit_log a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = %s ORDER BY seq",
                (slug,),
            )
        ]
        hashes = conn.execute(
            "SELECT count(*) FROM recovery_codes r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug = %s AND r.code_hash = ANY(%s)",
            (slug, codes),
        ).fetchone()[0]
    assert row == (True, "EUR")
    assert actions == ["tenant.created", "mfa.enrolled", "auth.sign_in"]
    assert hashes == 0  # stored hashed, not as shown


def test_signup_page_shows_field_errors_and_creates_nothing(app, owner_dsn):
    """A reserved address and a short password are reported next to the fields."""
    client = new_client(app)
    resp = post_form(
        client,
        "/signup",
        "localhost",
        {
            "name": "X",
            "slug": "admin",
            "country": "GB",
            "timezone": "Europe/London",
            "owner_name": "Y",
            "owner_email": "y@example.org",
            "password": "short",
        },
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "This address is reserved" in page and "at least 10 characters" in page
    assert 'aria-invalid="true"' in page


def test_console_requires_sign_in_and_mfa(make_clinic, app):
    """Password alone does not open the console; the TOTP step does; session id rotates."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    host = clinic.host
    email, secret = add_staff(app, clinic, "admin")
    client = new_client(app)
    assert client.get("/console/", base_url=f"http://{host}").status_code == 302
    first = post_form(client, "/login", host, {"email": email, "password": PASSWORD})
    assert first.status_code == 302 and first.location.endswith("/login/mfa")
    sid_before = client.get_cookie("similia_session", domain=host).value
    assert client.get("/console/", base_url=f"http://{host}").status_code == 302
    ok = post_form(client, "/login/mfa", host, {"code": pyotp.TOTP(secret).now()})
    assert ok.status_code == 302 and ok.location.endswith("/console/")
    cookie = ok.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    sid_after = client.get_cookie("similia_session", domain=host).value
    assert sid_after != sid_before
    dash = client.get("/console/", base_url=f"http://{host}")
    assert "Good day, Admin" in dash.get_data(as_text=True)
    # the pre-MFA session id is dead
    stale = new_client(app)
    stale.set_cookie("similia_session", sid_before, domain=host)
    assert stale.get("/console/", base_url=f"http://{host}").status_code == 302
    # sign out ends the session server-side
    client.post("/logout", data={"csrf_token": csrf_from(dash.data)}, base_url=f"http://{host}")
    reuse = new_client(app)
    reuse.set_cookie("similia_session", sid_after, domain=host)
    assert reuse.get("/console/", base_url=f"http://{host}").status_code == 302


def test_wrong_second_factor_is_refused_and_audited(make_clinic, app, owner_dsn):
    """A wrong TOTP code keeps the console closed and writes auth.mfa_failure."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, _ = add_staff(app, clinic, "practitioner")
    client = new_client(app)
    post_form(client, "/login", clinic.host, {"email": email, "password": PASSWORD})
    bad = post_form(client, "/login/mfa", clinic.host, {"code": "123456"})
    assert bad.status_code == 401
    assert client.get("/console/", base_url=f"http://{clinic.host}").status_code == 302
    with psycopg.connect(owner_dsn) as conn:
        actions = [
            r[0]
            for r in conn.execute("SELECT action FROM audit_log WHERE tenant_id = %s", (clinic.id,))
        ]
    assert "auth.mfa_failure" in actions and "auth.sign_in" not in actions


def test_forms_without_csrf_token_are_refused(make_clinic, app):
    """POSTing a form without its CSRF token is a 400 and changes nothing."""
    clinic = make_clinic()
    client = new_client(app)
    resp = client.post(
        "/login",
        data={"email": clinic.owner_email, "password": clinic.password},
        base_url=f"http://{clinic.host}",
    )
    assert resp.status_code == 400
    assert b"expired or was sent from elsewhere" in resp.data
    resp = client.post("/signup", data={"slug": "zzz-csrf"}, base_url="http://localhost")
    assert resp.status_code == 400


def test_session_of_clinic_a_is_not_signed_in_on_clinic_b(make_clinic, app):
    """A session cookie copied to another clinic's host is anonymous there."""
    from tests.factories import PASSWORD, add_staff

    a, b = make_clinic(), make_clinic()
    email, secret = add_staff(app, a, "owner")
    client = new_client(app)
    post_form(client, "/login", a.host, {"email": email, "password": PASSWORD})
    post_form(client, "/login/mfa", a.host, {"code": pyotp.TOTP(secret).now()})
    assert client.get("/console/", base_url=f"http://{a.host}").status_code == 200
    sid = client.get_cookie("similia_session", domain=a.host).value
    thief = new_client(app)
    thief.set_cookie("similia_session", sid, domain=b.host)
    assert thief.get("/console/", base_url=f"http://{b.host}").status_code == 302


def test_password_reset_link_is_single_use(make_clinic, app, worker, mail_dir, owner_dsn):
    """Reset by emailed link; the link works once; the new password works; old sessions end."""
    clinic = make_clinic()
    client = new_client(app)
    resp = post_form(client, "/password/forgot", clinic.host, {"email": clinic.owner_email})
    assert resp.status_code == 302
    unknown = post_form(
        new_client(app), "/password/forgot", clinic.host, {"email": "ghost@example.org"}
    )
    assert unknown.status_code == 302  # same answer either way
    msg = _wait_mail(mail_dir, clinic.owner_email)
    link = re.search(r"http://\S+/password/reset/(\S+)", text_of(msg)).group(0)
    path = "/password/reset/" + link.rsplit("/", 1)[1]
    weak = post_form(client, path, clinic.host, {"password": "short"})
    assert weak.status_code == 422
    done = post_form(client, path, clinic.host, {"password": "a brand new passphrase 9"})
    assert done.status_code == 302
    assert client.get(path, base_url=f"http://{clinic.host}").status_code == 404
    ok = client.post(
        "/api/v1/auth/token",
        json={
            "email": clinic.owner_email,
            "password": "a brand new passphrase 9",
            "otp": clinic.code(),
        },
        base_url=f"http://{clinic.host}",
    )
    assert ok.status_code == 201
    with psycopg.connect(owner_dsn) as conn:
        body, to = conn.execute(
            "SELECT payload->>'body', payload->>'to' FROM outbox"
            " WHERE tenant_id = %s AND topic = 'email.password_reset'",
            (clinic.id,),
        ).fetchone()
    assert body == "[delivered]"  # the single-use link is not kept in the database
    assert to == "[delivered]"  # nor the address


def test_invitation_email_accept_and_enrol(
    make_clinic, token_for, app, worker, mail_dir, owner_dsn
):
    """Owner invites a practitioner; the email link creates the account; MFA enrolment follows."""
    clinic = make_clinic()
    token = token_for(clinic)
    client = new_client(app)
    email = f"dr-{uuid.uuid4().hex[:6]}@example.org"
    inv = client.post(
        "/api/v1/staff/invitations",
        json={"email": email, "name": "Dr. Ravi Kumar", "role": "practitioner"},
        headers=bearer(token),
        base_url=f"http://{clinic.host}",
    )
    assert inv.status_code == 201 and inv.get_json()["role"] == "practitioner"
    dup = client.post(
        "/api/v1/staff/invitations",
        json={"email": clinic.owner_email, "name": "X", "role": "admin"},
        headers=bearer(token),
        base_url=f"http://{clinic.host}",
    )
    assert dup.status_code == 409
    msg = _wait_mail(mail_dir, email)
    path = "/invite/" + re.search(r"/invite/(\S+)", text_of(msg)).group(1)
    resp = post_form(client, path, clinic.host, {"password": "homeopathy rules 7"})
    assert resp.status_code == 302 and resp.location.endswith("/mfa/enrol")
    page = client.get("/mfa/enrol", base_url=f"http://{clinic.host}").get_data(as_text=True)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    client.post(
        "/mfa/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)},
        base_url=f"http://{clinic.host}",
    )
    assert "Dr. Ravi Kumar" in client.get("/console/", base_url=f"http://{clinic.host}").get_data(
        as_text=True
    )
    assert new_client(app).get(path, base_url=f"http://{clinic.host}").status_code == 404
    with psycopg.connect(owner_dsn) as conn:
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s ORDER BY seq", (clinic.id,)
            )
        ]
    assert "staff.invited" in actions and "staff.joined" in actions


def test_staff_page_invite_and_receptionist_forbidden(make_clinic, app, token_for):
    """The console's staff page invites; a receptionist gets 403 on the audit page."""
    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "receptionist")
    client = new_client(app)
    post_form(client, "/login", clinic.host, {"email": email, "password": PASSWORD})
    post_form(client, "/login/mfa", clinic.host, {"code": pyotp.TOTP(secret).now()})
    assert client.get("/console/audit", base_url=f"http://{clinic.host}").status_code == 403
    staff = client.get("/console/staff", base_url=f"http://{clinic.host}").get_data(as_text=True)
    assert "Invite someone" not in staff
    page_forbidden = client.post(
        "/console/staff",
        data={
            "csrf_token": csrf_from(staff),
            "name": "A",
            "email": "a@example.org",
            "role": "admin",
        },
        base_url=f"http://{clinic.host}",
    )
    assert page_forbidden.status_code == 403


def test_every_page_form_refuses_a_post_without_its_csrf_token(make_clinic, app):
    """All non-API POST routes (platform and clinic hosts) answer 400 without a CSRF token."""
    import uuid as _uuid

    from tests.factories import PASSWORD, add_staff

    clinic = make_clinic()
    email, secret = add_staff(app, clinic, "owner")
    client = new_client(app)
    post_form(client, "/login", clinic.host, {"email": email, "password": PASSWORD})
    post_form(client, "/login/mfa", clinic.host, {"code": pyotp.TOTP(secret).now()})
    routes = [
        r
        for r in app.url_map.iter_rules()
        if "POST" in r.methods and not r.rule.startswith("/api/")
    ]
    assert len(routes) >= 10
    for rule in routes:
        if rule.endpoint.startswith("stripe_webhooks."):
            # no cookie session: Stripe signs these (tests/billing/test_webhooks.py refuses
            # an unsigned one with 400); they are checked below
            resp = client.post(rule.rule, data={"x": "1"}, base_url="http://localhost")
            assert resp.status_code == 400, (rule.rule, resp.status_code)
            continue
        path = re.sub(r"<uuid:[a-z_]+>", str(_uuid.uuid4()), rule.rule)
        path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "check-in", path)
        host = "localhost" if rule.endpoint.startswith("platform.") else clinic.host
        resp = client.post(path, data={"x": "1"}, base_url=f"http://{host}")
        assert resp.status_code == 400, (rule.rule, resp.status_code)
        assert b"expired or was sent from elsewhere" in resp.data, rule.rule
