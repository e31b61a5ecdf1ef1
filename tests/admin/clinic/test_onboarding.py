"""Onboarding: the checklist on the console home and the public page's publication rule."""

from __future__ import annotations

import psycopg

from tests.client import new_client
from tests.factories import ClinicFactory, PracticeFactory
from tests.factories.base import clinic_session

from .console import Console


def _readiness(app, clinic):
    from saas.models import Tenant
    from tenants.onboarding import practice_readiness

    with clinic_session(app, clinic.id) as sess:
        r = practice_readiness(sess, sess.get(Tenant, clinic.id))
        return r, {s.key: s.done for s in r.steps}


def _public(app, clinic) -> str:
    return new_client(app).get("/", base_url=f"http://{clinic.host}").get_data(as_text=True)


def test_new_clinic_is_not_taking_bookings_and_shows_the_checklist(app):
    """Right after signup nothing is done; the public page says so kindly."""
    clinic = ClinicFactory()
    readiness, done = _readiness(app, clinic)
    assert not readiness.ready and not readiness.published and not readiness.complete
    assert done == {
        "profile": False,
        "location": False,
        "practitioners": False,
        "visit_types": False,
        "hours": False,
        "rules": False,
        "branding": False,
        "team": False,
    }
    page = _public(app, clinic)
    assert "Not yet taking bookings" in page and "data-not-taking-bookings" in page
    dash = Console(app, clinic).text("/console/")
    assert (
        "Set up your practice" in dash and "0 of 8 steps done" not in dash
    )  # the console user is a second member
    assert "not yet taking bookings" in dash
    for path in ("/console/practice/locations", "/console/practice/availability"):
        assert f'href="{path}"' in dash


def test_a_configured_practice_publishes_by_itself_and_unpublishes_when_it_stops(app):
    """The minimum (location, visit type, practitioner with hours there) opens the page."""
    p = PracticeFactory(tz="Europe/London")
    readiness, done = _readiness(app, p.clinic)
    assert readiness.ready and readiness.published
    assert done["location"] and done["practitioners"] and done["visit_types"] and done["hours"]
    assert done["rules"]  # the factory sets the clinic's rules
    page = _public(app, p.clinic)
    assert "Not yet taking bookings" not in page and "Follow-up consultation" in page
    console = Console(app, p.clinic, "admin")
    assert "Your public page is taking bookings" in console.text("/console/practice/")
    r = console.post(f"/console/practice/practitioners/{p.practitioner_id}/archive")
    assert r.status_code == 302
    readiness, _ = _readiness(app, p.clinic)
    assert not readiness.published
    assert "Not yet taking bookings" in _public(app, p.clinic)
    console.post(f"/console/practice/practitioners/{p.practitioner_id}/restore")
    assert "Follow-up consultation" in _public(app, p.clinic)


def test_hours_at_another_location_do_not_publish(app, owner_dsn):
    """A visit type offered only where its practitioner has no hours is not bookable."""
    p = PracticeFactory()
    video = p.owner.post(
        "/api/v1/practice/locations", {"name": "Video", "kind": "online"}
    ).get_json()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE availability_rules SET location_id = %s WHERE tenant_id = %s",
            (video["id"], p.clinic.id),
        )
    readiness, done = _readiness(app, p.clinic)
    assert done["hours"] and done["visit_types"] and not readiness.ready
    assert "Not yet taking bookings" in _public(app, p.clinic)


def test_every_step_done_hides_the_checklist(app):
    """Profile, branding and a colleague complete the list; the home page stops showing it."""
    p = PracticeFactory(tz="Europe/London")
    console = Console(app, p.clinic)  # a second staff member: the team step
    assert (
        console.post(
            "/console/practice/profile",
            {
                "name": "Calendula House",
                "address": "1 Remedy Lane, Leeds",
                "phone": "+44 113 496 0000",
                "email": "",
                "timezone": "Europe/London",
                "currency": "GBP",
            },
        ).status_code
        == 302
    )
    assert "Set up your practice" in console.text("/console/")
    assert (
        console.post(
            "/console/practice/branding",
            {
                "brand_color": "#2f6f5e",
                "accent_color": "#1f5c4d",
                "tagline": "Classical homeopathy",
                "welcome_text": "",
                "opening_hours": "",
            },
        ).status_code
        == 302
    )
    readiness, _ = _readiness(app, p.clinic)
    assert readiness.complete
    assert "Set up your practice" not in console.text("/console/")
