"""The served OpenAPI document is valid OpenAPI 3 and says what each operation needs."""

from __future__ import annotations

import pytest

PUBLIC = {
    ("post", "/api/v1/signup"),
    ("post", "/api/v1/auth/token"),
}


@pytest.fixture(scope="module")
def spec(app):
    """The document as a client downloads it."""
    return app.test_client().get("/api/openapi.json", base_url="http://localhost").get_json()


def test_document_passes_an_openapi_validator(spec):
    """openapi-spec-validator accepts it (tools such as schemathesis depend on that)."""
    from openapi_spec_validator import validate

    validate(spec)


def test_no_null_keywords(spec):
    """``format: null`` / ``pattern: null`` are invalid OAS (they broke schema tooling)."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and key in ("format", "pattern", "type", "example"):
                    found.append(f"{path}.{key}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(spec, "$")
    assert not found, found


def test_pagination_header_is_documented_as_sent(spec):
    """``X-Pagination`` is a JSON string in a header, documented as a string."""
    header = spec["components"]["headers"]["PAGINATION"]
    assert header["schema"]["type"] == "string"


def test_audit_target_may_be_null(spec):
    """Entries without a target are sent with ``target: null``; the schema allows it."""
    (name,) = [n for n in spec["components"]["schemas"] if n.endswith("staff.schemas.AuditEntry")]
    assert spec["components"]["schemas"][name]["properties"]["target"]["nullable"] is True


def test_put_and_patch_without_a_body_are_refused(make_clinic, token_for, client):
    """A change request with no body is a 422 and changes nothing (it used to answer 200)."""
    clinic = make_clinic()
    headers = {"Authorization": f"Bearer {token_for(clinic)}"}
    host = f"http://{clinic.host}"
    for method, path in (
        ("patch", "/api/v1/settings/branding"),
        ("put", "/api/v1/records/settings"),
    ):
        resp = getattr(client, method)(path, headers=headers, base_url=host)
        assert resp.status_code == 422, (method, path, resp.get_json())


def test_every_operation_declares_its_security(spec):
    """The bearer scheme on every operation, except the public ones, which say ``[]``."""
    public, missing = set(), []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if "security" not in op:
                missing.append(f"{method.upper()} {path}")
            elif op["security"] == []:
                public.add((method, path))
            else:
                assert op["security"] == [{"bearer": []}], (method, path)
    assert not missing, missing
    assert (
        PUBLIC
        | {
            ("post", "/api/v1/patients/register"),
            ("post", "/api/v1/patients/verify"),
            ("post", "/api/v1/patients/token"),
            ("get", "/api/v1/slots"),
            ("get", "/api/v1/visit-types"),
        }
        <= public
    )
    assert ("delete", "/api/v1/auth/token") not in public
    assert ("get", "/api/v1/patients") not in public
