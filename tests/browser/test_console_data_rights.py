"""Data rights in headless Chromium: an export downloaded once, an erasure that says what it kept.

The export is assembled by the real worker (the session's dramatiq worker, through the
outbox); the downloaded zip is opened and read. The erasure runs with the clinic's retention
set on the retention page, so the erased patient's page says what the law keeps and until
when. axe-core on each page (no serious or critical violations); screenshots under
``tests/artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from zoneinfo import ZoneInfo

import pytest

from saas.records.retention import add_years
from tests.factories import PatientFactory, PracticeFactory
from tests.helpers import drain

from .test_console_calendar import _violations, click, sign_in

pytestmark = pytest.mark.browser


def _checked(pg, screenshot, name: str, problems: list) -> None:
    screenshot(pg, f"data-rights-{name}")
    problems.extend(f"{name}: {v}" for v in _violations(pg))


def _write_note(pg, plan: str) -> None:
    """Write and save a case note for the open patient page's patient."""
    click(pg.get_by_role("link", name="New case note"))
    pg.get_by_label("Presenting complaints").fill("Eczema on both hands, itching at night")
    pg.get_by_label("Plan").fill(plan)
    click(pg.get_by_role("button", name="Save note"))
    assert pg.get_by_text("Case note saved.").is_visible()


def test_owner_requests_an_export_and_downloads_it_once(
    app, new_page, live_server, screenshot, worker, owner_dsn
):
    """Request → the worker builds it → download the zip (case note inside) → gone after."""
    practice = PracticeFactory()
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, full_name="Ines Braun")
    patient_url = live_server.url(clinic.slug, f"/console/patients/{patient.id}")
    problems: list[str] = []

    # a practitioner keeps the record but does not answer data requests: no export button
    doc = sign_in(new_page, live_server, clinic, role="practitioner")
    doc.goto(patient_url)
    _write_note(doc, "Review in 6 weeks EXPORTMARK")
    doc.goto(patient_url)
    assert doc.get_by_role("button", name="Request an export").count() == 0

    pg = sign_in(new_page, live_server, clinic, role="owner")
    pg.goto(patient_url)
    click(pg.get_by_role("button", name="Request an export"))
    assert pg.get_by_text("Export requested.").is_visible()
    assert pg.get_by_text(": pending").is_visible()
    drain(worker, "records")
    pg.reload()
    download_link = pg.locator("#data-rights ~ ul").get_by_role("link", name="Download")
    assert download_link.is_visible()
    _checked(pg, screenshot, "export-ready", problems)

    with pg.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename == f"patient-{patient.id}.zip"
    with zipfile.ZipFile(download.path()) as zf:
        record = json.loads(zf.read("record.json"))
    assert record["format"] == "similia-patient-export/1"
    assert record["patient"]["full_name"] == "Ines Braun"
    (visit,) = record["visits"]
    assert "EXPORTMARK" in json.dumps(visit["note_versions"][-1]["sections"])

    # downloaded once: the bundle is destroyed and the page no longer offers it
    pg.goto(patient_url)
    assert pg.get_by_text(": downloaded").is_visible()
    assert pg.locator("#data-rights ~ ul").get_by_role("link", name="Download").count() == 0
    import psycopg

    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(
            "SELECT status, bundle_enc IS NULL FROM record_exports WHERE patient_id = %s",
            (patient.id,),
        ).fetchone()
    assert row == ("downloaded", True)
    assert problems == []


def test_owner_sets_retention_and_erases_a_patient(app, new_page, live_server, screenshot):
    """Retention page → patient page → erase (reason, name typed) → the erased state."""
    practice = PracticeFactory()
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, full_name="Jonas Weber")
    problems: list[str] = []
    pg = sign_in(new_page, live_server, clinic, role="owner")

    pg.goto(live_server.url(clinic.slug, "/console/practice/"))
    click(pg.get_by_role("link", name="Retention of clinical records"))
    assert pg.get_by_text("No retention period is set.").is_visible()
    assert pg.get_by_text("Germany: 10 years after the end of treatment").is_visible()
    field = pg.get_by_label("Years to keep clinical records after the last visit")
    assert field.input_value() == "10"
    field.fill("0")
    click(pg.get_by_role("button", name="Save retention"))
    assert pg.get_by_text("Enter a number of years from 1 to 100.").first.is_visible()
    _checked(pg, screenshot, "retention-error", problems)
    field.fill("10")
    click(pg.get_by_role("button", name="Save retention"))
    assert pg.get_by_text("Retention saved.").is_visible()
    assert pg.locator("[data-retention-current]").get_by_text("10 years", exact=True).is_visible()
    _checked(pg, screenshot, "retention", problems)

    pg.goto(live_server.url(clinic.slug, f"/console/patients/{patient.id}"))
    _write_note(pg, "Review in 4 weeks")
    pg.goto(live_server.url(clinic.slug, f"/console/patients/{patient.id}"))
    click(pg.get_by_role("link", name="Erase this patient"))
    today = dt.datetime.now(ZoneInfo(clinic.timezone)).date()
    until = add_years(today, 10)
    assert pg.locator("[data-erasure-keeps]").get_by_text(f"until {until:%d %B %Y}").is_visible()
    pg.get_by_label("Reason").select_option("patient_request")
    pg.get_by_label("Reference (optional)").fill("REQ-2026-31")
    click(pg.get_by_role("button", name="Erase the patient"))
    # no name typed: refused inline, nothing erased
    assert pg.get_by_text("Type the patient's full name.").first.is_visible()
    assert pg.get_by_label("Reference (optional)").input_value() == "REQ-2026-31"
    pg.get_by_label("Type the patient's full name to confirm").fill("Jonas Weber")
    _checked(pg, screenshot, "erase", problems)
    click(pg.get_by_role("button", name="Erase the patient"))

    pg.wait_for_url(f"**/console/patients/{patient.id}")
    assert pg.get_by_text("The patient's personal data was erased.").is_visible()
    assert pg.get_by_role("heading", name="Erased patient", level=1).is_visible()
    kept = pg.locator("[data-kept]")
    assert kept.get_by_text(f"{until:%d %B %Y}").is_visible()
    assert "1 visit, 1 case note and 0 prescriptions" in kept.inner_text()
    assert pg.get_by_text("Jonas Weber").count() == 0
    _checked(pg, screenshot, "erased", problems)
    # the patient is gone from the list
    pg.goto(live_server.url(clinic.slug, "/console/patients?q=Jonas"))
    assert pg.get_by_role("link", name="Jonas Weber").count() == 0
    assert problems == []
