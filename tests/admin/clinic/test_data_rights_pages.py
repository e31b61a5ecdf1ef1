"""Data rights pages: retention settings, legal hold, erasure that keeps what the law requires.

The pages call the same services as the API (:mod:`saas.records.retention`,
:mod:`saas.records.gdpr`); these tests check what each role sees and may do, and that the
refusals are the services' own, shown on the page.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from saas.records.retention import add_years
from tests.factories import PatientFactory, PracticeFactory

from .test_calendar_pages import console
from .test_patients_pages import _prescribe, _write_visit

HOLD_REASON = "HOLDMARK complaint to the regulator, ref 77"


@pytest.fixture
def practice(app):
    """A clinic in Berlin (country DE)."""
    return PracticeFactory()


def _retention(sql, clinic):
    return sql(
        "SELECT settings->'records'->>'retention_years' FROM tenants WHERE id = %s", clinic.id
    )[0][0]


def test_retention_page_proposes_the_country_default_and_only_an_owner_saves(practice, sql):
    """Owner: country proposal, inline error, saved and audited; admin reads; others 403."""
    clinic = practice.clinic
    assert sql("SELECT country FROM tenants WHERE id = %s", clinic.id) == [("DE",)]
    for role in ("practitioner", "receptionist"):
        assert console(clinic, role).get("/console/patients/retention").status_code == 403
    owner = console(clinic, "owner")
    page = owner.text("/console/patients/retention")
    assert "No retention period is set" in page and "Germany: 10 years" in page
    assert 'name="retention_years"' in page and 'value="10"' in page
    assert "Erasure within the period" in page and "Legal hold" in page

    bad = owner.post("/console/patients/retention", {"retention_years": "0"})
    assert bad.status_code == 422 and "from 1 to 100" in bad.get_data(as_text=True)
    assert _retention(sql, clinic) is None
    ok = owner.post("/console/patients/retention", {"retention_years": "12"})
    assert ok.status_code == 302
    assert _retention(sql, clinic) == "12"
    assert "for <strong>12 years</strong>" in owner.text("/console/patients/retention")
    assert sql(
        "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'records.settings_changed'",
        clinic.id,
    ) == [({"retention_years": [None, 12]},)]

    admin = console(clinic, "admin")
    page = admin.text("/console/patients/retention")
    assert "Only an owner can change the retention period." in page
    assert 'name="retention_years"' not in page
    refused = admin.post(
        "/console/patients/retention", {"retention_years": "2"}, token_from="/console/patients"
    )
    assert refused.status_code == 403
    assert "Only an owner can change this." in refused.get_data(as_text=True)
    assert _retention(sql, clinic) == "12"


def test_legal_hold_on_the_patient_page_stops_erasure(practice, sql):
    """Owner places a hold with a reason; the erase page and its POST refuse; release."""
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, full_name="Lena Vogt")
    page_path = f"/console/patients/{patient.id}"
    hold_path = f"/console/patients/{patient.id}/legal-hold"
    owner = console(clinic, "owner")
    assert "Place a legal hold" in owner.text(page_path)
    admin = console(clinic, "admin")
    assert "Place a legal hold" not in admin.text(page_path)
    for role, who in (("admin", admin), ("practitioner", console(clinic, "practitioner"))):
        assert who.post(hold_path, {"reason": "x"}, token_from=page_path).status_code == 403, role
    other = console(PracticeFactory().clinic, "owner")
    assert other.post(hold_path, {"reason": "x"}, token_from="/console/patients").status_code == 404

    empty = owner.post(hold_path, {"reason": ""}, token_from=page_path)
    assert empty.status_code == 302
    assert "Enter the reason for the legal hold." in owner.text(page_path)
    assert sql("SELECT legal_hold_at FROM patients WHERE id = %s", patient.id) == [(None,)]

    assert owner.post(hold_path, {"reason": HOLD_REASON}, token_from=page_path).status_code == 302
    page = owner.text(page_path)
    assert "Under legal hold" in page and HOLD_REASON in page
    assert "Erase this patient" not in page
    # an admin sees the hold but not why; the erase page and its POST refuse with the reason
    page = admin.text(page_path)
    assert "Under legal hold" in page and "HOLDMARK" not in page
    erase_path = f"/console/patients/{patient.id}/erase"
    page = admin.text(erase_path)
    assert "under a legal hold since" in page and 'name="confirm_name"' not in page
    resp = admin.post(
        erase_path,
        {"reason": "patient_request", "confirm_name": "Lena Vogt"},
        token_from=page_path,
    )
    assert resp.status_code == 409 and "under a legal hold since" in resp.get_data(as_text=True)
    assert sql("SELECT status FROM patients WHERE id = %s", patient.id) == [("active",)]

    release = f"/console/patients/{patient.id}/legal-hold/release"
    assert admin.post(release, {}, token_from=page_path).status_code == 403
    assert owner.post(release, {}, token_from=page_path).status_code == 302
    assert "Erase this patient" in owner.text(page_path)
    assert [
        a
        for (a,) in sql(
            "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'patient.legal%%' "
            "ORDER BY seq",
            clinic.id,
        )
    ] == ["patient.legal_hold_placed", "patient.legal_hold_released"]


def test_erasure_within_retention_says_what_it_keeps(practice, sql):
    """Within the period the erase page says until when; the erased page says what stays."""
    clinic = practice.clinic
    owner = console(clinic, "owner")
    owner.post("/console/patients/retention", {"retention_years": "10"})
    patient = PatientFactory(clinic=clinic, full_name="Jonas Weber")
    doc = console(clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    assert _prescribe(doc, visit_id).status_code == 302
    today = dt.datetime.now(ZoneInfo(clinic.timezone)).date()
    until = add_years(today, 10)
    erase_path = f"/console/patients/{patient.id}/erase"
    page = owner.text(erase_path)
    assert f"until {until:%d %B %Y}" in page and "10 years after the last visit" in page
    resp = owner.post(erase_path, {"reason": "patient_request", "confirm_name": "Jonas Weber"})
    assert resp.status_code == 302
    page = owner.text(f"/console/patients/{patient.id}")
    assert "data-erased" in page and "Jonas Weber" not in page
    assert f"kept until <strong>{until:%d %B %Y}</strong>" in page
    assert "1 visit, 1 case note and 1 prescription" in page
    # the kept record can still be put under legal hold by the owner
    assert "Place a legal hold" in page
    assert sql("SELECT records_kept_until FROM patients WHERE id = %s", patient.id) == [(until,)]
    # the receptionist cannot open the erased patient's page beyond what the role allows
    desk = console(clinic, "receptionist")
    page = desk.text(f"/console/patients/{patient.id}")
    assert "data-erased" in page and "Place a legal hold" not in page
