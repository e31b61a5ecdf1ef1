"""The demo clinic that `make run` seeds: its printed logins really work."""

from __future__ import annotations

from tests.conftest import new_client


def test_demo_seed_is_idempotent_and_its_logins_work(app):
    """Seeding twice creates one clinic; each demo account gets a token with the demo code."""
    from tenants import demo

    with app.test_request_context("/", base_url="http://localhost"):
        first = demo.seed_demo()
    with app.test_request_context("/", base_url="http://localhost"):
        assert demo.seed_demo() is False
    assert first is True
    roles = {}
    for email, _, _role in demo.ACCOUNTS:
        client = new_client(app)
        resp = client.post(
            "/api/v1/auth/token",
            json={"email": email, "password": demo.PASSWORD, "otp": demo.current_code()},
            base_url="http://demo.localhost",
        )
        assert resp.status_code == 201, resp.get_json()
        me = client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer {resp.get_json()['access_token']}"},
            base_url="http://demo.localhost",
        ).get_json()
        roles[me["email"]] = me["role"]
    assert sorted(roles.values()) == ["owner", "practitioner", "receptionist"]


def test_demo_practice_is_bookable(app):
    """The demo clinic has visit types with free times and bookings on the next weekday."""
    import datetime as dt

    import psycopg

    from tenants import demo

    with app.test_request_context("/", base_url="http://localhost"):
        demo.seed_demo()
    client = new_client(app)
    with psycopg.connect(app.config["SIMILIA"].database_url.replace("+psycopg", "")) as conn:
        services = dict(
            conn.execute(
                "SELECT s.name, s.id FROM visit_types s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'demo'"
            ).fetchall()
        )
        booked = conn.execute(
            "SELECT count(*) FROM appointments a JOIN tenants t ON t.id = a.tenant_id "
            "WHERE t.slug = 'demo' AND a.status = 'confirmed'"
        ).fetchone()[0]
    assert set(services) == {
        "Initial consultation (case-taking)",
        "Follow-up consultation",
        "Acute visit",
    }
    assert booked == 4
    today = dt.date.today()
    resp = client.get(
        "/api/v1/slots",
        query_string={
            "service_id": str(services["Follow-up consultation"]),
            "from": (today + dt.timedelta(days=1)).isoformat(),
            "to": (today + dt.timedelta(days=8)).isoformat(),
        },
        base_url="http://demo.localhost",
    )
    assert resp.status_code == 200, resp.get_json()
    assert sum(len(g["starts"]) for g in resp.get_json()["groups"]) > 20


def test_demo_receptionist_signs_in_through_the_pages(app):
    """The printed demo login works on the sign-in page (special-use .test addresses too)."""
    import time

    import pyotp

    from tenants import demo
    from tests.helpers import post_form

    with app.test_request_context("/", base_url="http://localhost"):
        demo.seed_demo()
    client = new_client(app)
    email = demo.ACCOUNTS[2][0]
    first = post_form(
        client, "/login", "demo.localhost", {"email": email, "password": demo.PASSWORD}
    )
    assert first.status_code == 302 and first.location.endswith("/login/mfa")
    # the current step may be spent by the API test above: the next one is accepted too
    code = pyotp.TOTP(demo.TOTP_SECRET).at(time.time() + 30)
    ok = post_form(client, "/login/mfa", "demo.localhost", {"code": code})
    assert ok.status_code == 302
    assert "Good day, Sofia Lang" in client.get(
        "/console/", base_url="http://demo.localhost"
    ).get_data(as_text=True)
