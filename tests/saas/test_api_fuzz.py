"""Schemathesis over the served OpenAPI document: every operation, as staff and as a patient.

Generated requests (a bounded number per operation, derandomized so CI is repeatable) go
through the real app; every answer must be free of server errors and match the document
(status codes, content types, headers and body schemas). Ids in paths come from the
clinic's real objects where the generator allows, and random ones otherwise (404s, which
the document declares).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_config

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_app(service_env):
    """A separate app without rate limits (the fuzzer would otherwise measure the limiter)."""
    from saas.app import create_app

    return create_app(make_config(extra={"disable_rate_limits": True}))


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The document the app serves, loaded through WSGI."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


@pytest.fixture
def quiet_worker(worker):
    """Pause the in-process worker while Hypothesis generates.

    Its threads use ``random``, which Hypothesis would report as a flaky strategy.
    """
    worker.pause()
    yield
    worker.resume()


@pytest.fixture(scope="module")
def identities(app):
    """A configured clinic, its owner's token and a patient's portal token (same database)."""
    from tests.factories import PatientFactory, PracticeFactory

    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, bare=True, portal_token=True)
    return {
        "host": practice.clinic.host,
        "staff": practice.owner.token,
        "patient": patient.token,
    }


#: These revoke the token the run uses, so they go last.
SIGN_OUTS = {"DELETE /api/v1/auth/token", "DELETE /api/v1/patients/token"}

FUZZ_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _fuzz(api_schema, identities, who: str) -> list[str]:
    """Run every operation; returns one line per operation that broke a check."""
    headers = {"Host": identities["host"], "Authorization": f"Bearer {identities[who]}"}
    failures = []
    operations = sorted(
        (r.ok() for r in api_schema.get_all_operations()), key=lambda op: op.label in SIGN_OUTS
    )
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
            failures.append(f"{operation.label}: {_describe(exc)[:1500]}")
    return failures


def _describe(exc: BaseException) -> str:
    """The message of ``exc`` and of every exception grouped in it."""
    text = str(exc).strip()
    for sub in getattr(exc, "exceptions", ()) or ():
        text += "\n  -> " + _describe(sub)
    return text


def _report(failures: list[str]) -> str:
    labels = "\n".join(f.split(":", 1)[0] for f in failures)
    return f"{len(failures)} operations broke a check:\n{labels}\n\n" + "\n\n".join(failures)


def test_every_operation_as_staff(api_schema, identities, quiet_worker):
    """No 5xx and no answer that breaks the document, with the owner's token."""
    failures = _fuzz(api_schema, identities, "staff")
    assert not failures, _report(failures)


def test_every_operation_as_patient(api_schema, identities, quiet_worker):
    """The same with a patient's portal token (staff routes must refuse it as documented)."""
    failures = _fuzz(api_schema, identities, "patient")
    assert not failures, _report(failures)
