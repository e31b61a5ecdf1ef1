"""Scheduling fixtures: a configured practice, patients, staff, an API helper, a live server.

Practices are configured through the staff API (``PracticeFactory``, so every test also
exercises it); patients are created by ``saas.patients.create_patient`` with a portal token
row (``PatientFactory``), which skips password hashing (the portal sign-in itself is tested
in ``tests/test_patients_api``). A live gunicorn server serves the concurrency tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.client import Api, check  # noqa: F401 - re-exported for scheduling tests
from tests.conftest import ROOT
from tests.factories import (
    PatientFactory,
    PatientRecord,
    Practice,
    PracticeFactory,
    StaffFactory,
)

#: A portal patient: ``id``, ``token`` (portal bearer token) and ``full_name``.
Patient = PatientRecord


@pytest.fixture
def make_practice(app):
    """Configure a practice through the staff API: ``make_practice(tz, windows=, service=, rules=)``.

    See :class:`tests.factories.PracticeFactory` for the defaults.
    """

    def build(
        tz: str = "Europe/Berlin",
        *,
        windows: list[tuple[int, str, str]] | None = None,
        service: dict | None = None,
        rules: dict | None = None,
    ) -> Practice:
        return PracticeFactory(tz=tz, windows=windows, service=service, rules=rules)

    return build


@pytest.fixture
def make_patient(app):
    """A patient of a clinic (name only, no contact details) with a portal session token."""

    def make(clinic, full_name: str = "Maria Schmidt") -> Patient:
        return PatientFactory(clinic=clinic, full_name=full_name, bare=True, portal_token=True)

    return make


@pytest.fixture
def make_staff(app):
    """Add a staff member with ``role`` (TOTP enrolled) to a clinic; returns (user id, token)."""

    def make(clinic, role: str, name: str = "Sam Staff") -> tuple[uuid.UUID, str]:
        member = StaffFactory(clinic=clinic, role=role, name=name)
        return member.id, member.sign_in()

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(app):
    """The app under gunicorn (4 workers x 4 threads) on a free port, for real concurrency."""
    port = _free_port()
    log = open(ROOT / ".var" / f"gunicorn-{os.getpid()}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "saas.wsgi:app",
        ],
        cwd=ROOT,
        env={**os.environ, "SAAS_PUBLIC_PORT": str(port)},
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"gunicorn did not start; see {log.name}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
