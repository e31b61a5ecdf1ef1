"""Portal page fixtures: a bookable practice, a patient signed in on the portal by cookie."""

from __future__ import annotations

import pytest

from tests.client import new_client
from tests.factories import PatientFactory, PracticeFactory

COOKIE = "similia_patient"


def portal_client(app, clinic, token: str | None = None):
    """A test client on ``clinic``'s host, signed in on the portal with ``token`` if given."""
    c = new_client(app)
    if token:
        c.set_cookie(COOKIE, token, domain=clinic.host)
    return c


def get(c, clinic, path: str, **kw):
    """GET ``path`` on the clinic's host."""
    return c.get(path, base_url=f"http://{clinic.host}", **kw)


@pytest.fixture
def practice(app):
    """A clinic in Berlin with one practitioner, hours every day and a 60-minute visit type."""
    return PracticeFactory()


@pytest.fixture
def patient(practice):
    """A verified portal patient of ``practice`` with a portal session token."""
    return PatientFactory(clinic=practice.clinic, portal_token=True)


@pytest.fixture
def signed_in(app, practice, patient):
    """A client signed in on the portal as ``patient``."""
    return portal_client(app, practice.clinic, patient.token)
