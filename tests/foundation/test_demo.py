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
