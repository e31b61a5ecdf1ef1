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
