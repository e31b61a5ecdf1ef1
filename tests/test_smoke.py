"""The platform answers on its hosts."""


def test_healthz(client):
    """Liveness answers on any host."""
    resp = client.get("/healthz", base_url="http://10.0.0.1")
    assert resp.get_json() == {"status": "ok"}


def test_signup_and_me(make_clinic, token_for, client):
    """A clinic signed up through the API can fetch a token and see itself."""
    clinic = make_clinic()
    token = token_for(clinic)
    resp = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, base_url=f"http://{clinic.host}"
    )
    body = resp.get_json()
    assert body["email"] == clinic.owner_email
    assert body["role"] == "owner"
    assert body["tenant"]["slug"] == clinic.slug
