"""My visits: only the summaries and prescriptions the clinic shared, opened with its key."""

from __future__ import annotations

import psycopg

from tests.admin.clinic.console import Console
from tests.factories import PatientFactory, PracticeFactory
from tests.portal.conftest import get, portal_client
from tests.records.conftest import CASE

PAGE = "/appointments/shared"


def _visit(api, patient_id, day: str, *, rx: tuple = (), summary: str | None = None) -> str:
    """A signed visit with prescriptions ``rx`` (remedy, shared), shared with ``summary``."""
    resp = api.post(
        f"/api/v1/patients/{patient_id}/visits",
        json={"kind": "follow_up", "visit_date": day, "note": CASE},
    )
    assert resp.status_code == 201, resp.get_json()
    visit_id = resp.get_json()["id"]
    for remedy, shared in rx:
        _rx(api, visit_id, remedy, shared=shared)
    resp = api.post(f"/api/v1/visits/{visit_id}/sign")
    assert resp.status_code == 200, resp.get_json()
    if summary is not None:
        resp = api.put(
            f"/api/v1/visits/{visit_id}/sharing",
            json={"shared_with_patient": True, "patient_summary": summary},
        )
        assert resp.status_code == 200, resp.get_json()
    return visit_id


def _rx(api, visit_id, remedy: str, *, shared: bool) -> str:
    resp = api.post(
        f"/api/v1/visits/{visit_id}/prescriptions",
        json={
            "remedy": remedy,
            "potency": "30C",
            "dose": "3 pills",
            "instructions": "Avoid coffee around doses",
            "shared_with_patient": shared,
        },
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_only_shared_content_is_shown(app, owner_dsn):
    """Shared summary and prescription appear; case notes, unshared and void ones never do."""
    practice = PracticeFactory()
    doc = practice.owner
    pat = PatientFactory(clinic=practice.clinic, portal_token=True)
    rx = (("Natrum muriaticum", True), ("Sepia", False), ("Ignatia", True))
    shared_visit = _visit(doc, pat.id, "2026-03-02", rx=rx, summary="Take Natrum muriaticum once")
    _visit(doc, pat.id, "2026-03-09")  # signed, never shared
    void = next(
        r["id"]
        for r in doc.get(f"/api/v1/patients/{pat.id}/prescriptions").get_json()
        if r["remedy"] == "Ignatia"
    )
    resp = doc.post(f"/api/v1/prescriptions/{void}/void", json={"reason": "changed"})
    assert resp.status_code == 200, resp.get_json()
    c = portal_client(app, practice.clinic, pat.token)
    resp = get(c, practice.clinic, PAGE)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Take Natrum muriaticum once" in page
    assert "Natrum muriaticum 30C" in page and "Avoid coffee around doses" in page
    assert page.count('class="card visit-summary"') == 1
    assert page.count('class="card prescription"') == 1
    for secret in ("Sepia", "Ignatia", "Weeps when alone", "Migraine", "Craves salt"):
        assert secret not in page, secret
    # the summary is stored sealed and opened with the clinic's key for this page
    with psycopg.connect(owner_dsn) as conn:
        (sealed,) = conn.execute(
            "SELECT patient_summary_enc FROM clinical_visits WHERE id = %s", (shared_visit,)
        ).fetchone()
        reads = conn.execute(
            "SELECT actor_label, data->>'record' FROM audit_log WHERE tenant_id = %s "
            "AND action = 'clinical.read' AND data->>'record' LIKE 'shared_%%'",
            (practice.clinic.id,),
        ).fetchall()
    assert b"Natrum" not in bytes(sealed)
    assert {r[1] for r in reads} == {"shared_visits", "shared_prescriptions"}
    assert all(r[0] == f"patient:{pat.id}" for r in reads)
    # unsharing takes it off the page
    resp = doc.put(f"/api/v1/visits/{shared_visit}/sharing", json={"shared_with_patient": False})
    assert resp.status_code == 200, resp.get_json()
    assert "Take Natrum muriaticum once" not in get(c, practice.clinic, PAGE).get_data(as_text=True)


def test_other_patients_clinics_and_staff_see_nothing(app):
    """Another patient of the clinic, a patient of another clinic and a staff cookie: nothing."""
    a, b = PracticeFactory(), PracticeFactory()
    mine = PatientFactory(clinic=a.clinic, portal_token=True)
    _visit(
        a.owner, mine.id, "2026-03-02", rx=(("Pulsatilla", True),), summary="Summary for Mira only"
    )
    other = PatientFactory(clinic=a.clinic, portal_token=True)
    page = get(portal_client(app, a.clinic, other.token), a.clinic, PAGE).get_data(as_text=True)
    assert "Summary for Mira only" not in page and "Pulsatilla" not in page
    assert "has not shared a visit summary" in page
    on_b = PatientFactory(clinic=b.clinic, portal_token=True)
    resp = get(portal_client(app, a.clinic, on_b.token), a.clinic, PAGE)  # B's token on A
    assert resp.status_code == 302 and resp.location.startswith("/sign-in")
    # a staff console session is not a patient session
    console = Console(app, a.clinic)
    resp = console.client.get(PAGE, base_url=console.base)
    assert resp.status_code == 302 and resp.location.startswith("/sign-in")
    assert get(portal_client(app, a.clinic), a.clinic, PAGE).status_code == 302


def test_my_visits_links_to_the_shared_page(app, practice, signed_in):
    """The visits page leads to what the clinic shared."""
    page = get(signed_in, practice.clinic, "/appointments").get_data(as_text=True)
    assert f'href="{PAGE}"' in page


def test_shared_page_in_german(app, practice, signed_in):
    """The page speaks the patient's language like every portal page."""
    page = get(signed_in, practice.clinic, f"{PAGE}?lang=de").get_data(as_text=True)
    assert "Von Ihrer Praxis" in page
    assert "Ihre Praxis hat noch keine Verordnung mit Ihnen geteilt." in page
