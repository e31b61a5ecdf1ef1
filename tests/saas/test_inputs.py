"""Input limits in one place (saas/inputs.py): bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

import json

import pytest

SIGNUP = {
    "name": "Limit Clinic",
    "slug": "limit-clinic",
    "timezone": "Europe/London",
    "country": "GB",
    "owner_name": "Olive Owner",
    "owner_email": "owner@limit.example.org",
    "password": "correct horse 42",
}


def _post_raw(client, body: str):
    return client.post(
        "/api/v1/signup", data=body, content_type="application/json", base_url="http://localhost"
    )


def test_deeply_nested_json_is_refused(client):
    """A 100,000-deep body is a 422, not a RecursionError."""
    resp = _post_raw(client, "[" * 100_000 + "]" * 100_000)
    assert resp.status_code == 422 and resp.get_json()["reason"] == "invalid_input"
    nested = {"a": 1}
    for _ in range(40):
        nested = {"a": nested}
    assert _post_raw(client, json.dumps({**SIGNUP, "x": nested})).status_code == 422


@pytest.mark.parametrize(
    ("field", "raw"),
    [("name", '"Clinic\\u0000X"'), ("owner_name", '"Olive \\ud800"'), ("name", '"\\udfff"')],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(client, field, raw):
    """Characters Postgres cannot store never reach it."""
    body = (
        json.dumps({k: v for k, v in SIGNUP.items() if k != field})[:-1] + f', "{field}": {raw}}}'
    )
    resp = _post_raw(client, body)
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("number", ["9223372036854775808", "-9223372036854775809", "1" * 5000])
def test_numbers_beyond_64_bits_are_refused(client, number):
    """No column can hold them; a 5,000-digit number does not crash the parser either."""
    resp = _post_raw(client, json.dumps(SIGNUP)[:-1] + f', "price_minor": {number}}}')
    assert resp.status_code in (400, 422)
    assert resp.is_json and resp.get_json()["code"] == resp.status_code


def test_control_characters_in_query_parameters_are_refused(make_clinic, client):
    """A NUL in a query string is a 400 naming the parameter, on pages and the API."""
    clinic = make_clinic()
    api = client.get("/api/v1/services?x=a%00b", base_url=f"http://{clinic.host}")
    assert api.status_code == 422 and "x" in api.get_json()["errors"]["query"]
    page = client.get("/login?next=%00", base_url=f"http://{clinic.host}")
    assert page.status_code == 422 and "text/html" in page.content_type


def test_page_numbers_and_prices_are_bounded(make_clinic, token_for, client):
    """A page past a million and a price past 10 million are 422s naming the field."""
    clinic = make_clinic()
    headers = {"Authorization": f"Bearer {token_for(clinic)}"}
    host = f"http://{clinic.host}"
    for page in ("99999999999999999999", "1000001"):
        resp = client.get(f"/api/v1/patients?page={page}", headers=headers, base_url=host)
        assert resp.status_code == 422, resp.get_json()
        assert "page" in str(resp.get_json()["errors"])
    assert client.get("/api/v1/patients?page=2", headers=headers, base_url=host).status_code == 200
    resp = client.post(
        "/api/v1/practice/visit-types",
        json={"name": "Costly", "duration_minutes": 60, "price_minor": 9223372036854775807},
        headers=headers,
        base_url=host,
    )
    assert resp.status_code == 422 and "price_minor" in resp.get_json()["errors"]["json"]
