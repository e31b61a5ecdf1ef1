"""Dates near year 1 or 9999 are a 422 naming the field (they used to end in 500s)."""

from __future__ import annotations

import pytest

from tests.factories import PatientFactory, PracticeFactory


@pytest.fixture(scope="module")
def practice(app):
    """One configured clinic for the whole module."""
    p = PracticeFactory()
    p.extra["patient"] = PatientFactory(clinic=p.clinic, bare=True)
    return p


@pytest.mark.parametrize(
    "query",
    [
        "from=9999-12-30&to=9999-12-31",
        "from=0001-01-01&to=0001-01-02",
        "from=1899-12-31&to=1900-01-02",
    ],
)
def test_slot_search_out_of_range(app, practice, query):
    """The public slot search refuses years it cannot compute."""
    resp = app.test_client().get(
        f"/api/v1/slots?service_id={practice.service_id}&{query}",
        base_url=f"http://{practice.clinic.host}",
    )
    assert resp.status_code == 422 and "from" in resp.get_json()["errors"]["query"]


@pytest.mark.parametrize("start", ["9999-12-31T10:00:00+00:00", "0001-01-01T10:00:00+00:00"])
def test_booking_and_listing_out_of_range(app, practice, start):
    """A booking or a listing at the end of the calendar names ``start`` / ``from``."""
    client, base = app.test_client(), f"http://{practice.clinic.host}"
    headers = {"Authorization": f"Bearer {practice.owner.token}"}
    book = client.post(
        "/api/v1/appointments",
        json={
            "patient_id": str(practice.extra["patient"].id),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start,
        },
        headers=headers,
        base_url=base,
    )
    assert book.status_code == 422 and "start" in book.get_json()["errors"]["json"]
    listing = client.get(
        "/api/v1/appointments", query_string={"from": start}, headers=headers, base_url=base
    )
    assert listing.status_code == 422 and "from" in listing.get_json()["errors"]["query"]


def test_time_off_at_the_end_of_the_calendar_is_refused(app, practice):
    """Exceptions and closures are bounded like everything else."""
    client, base = app.test_client(), f"http://{practice.clinic.host}"
    headers = {"Authorization": f"Bearer {practice.owner.token}"}
    resp = client.post(
        "/api/v1/practice/exceptions",
        json={
            "practitioner_id": practice.practitioner_id,
            "kind": "time_off",
            "start": "9999-12-31T10:00:00+00:00",
            "end": "9999-12-31T12:00:00+00:00",
        },
        headers=headers,
        base_url=base,
    )
    assert resp.status_code == 422 and "start" in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posix/Europe/Berlin"])
def test_location_zones_are_iana_names(app, practice, zone):
    """A location's zone goes through the same IANA check as the clinic's."""
    resp = app.test_client().post(
        "/api/v1/practice/locations",
        json={"name": f"Branch {zone}", "timezone": zone},
        headers={"Authorization": f"Bearer {practice.owner.token}"},
        base_url=f"http://{practice.clinic.host}",
    )
    assert resp.status_code == 422 and "timezone" in resp.get_json()["errors"]["json"]
