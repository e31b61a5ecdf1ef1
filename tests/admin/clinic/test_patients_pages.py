"""Patient pages: list, patient page, chart, follow-ups, consents, attachments, data rights.

Case notes, prescriptions, amendments and history; by role and with another clinic's ids.

A receptionist must receive no clinical bytes: a marker is written into a note and a
prescription, and every response a receptionist can get is scanned for it.
"""

from __future__ import annotations

import re

import pytest

from tests.factories import PatientFactory, PracticeFactory

from .test_calendar_pages import ROLES, console

MARKER = "ZZMARKER-Sepia-grief-7781"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def practice(app):
    """A clinic set up for booking."""
    return PracticeFactory()


def _note(**over) -> dict:
    return {
        "kind": "initial",
        "presenting": f"Headache, right side, throbbing. {MARKER}",
        "better": "Cold applications",
        "worse": "Sun, 10 am",
        "mentals": "Grief kept silent",
        "generals": "Thirsty, warm",
        "rubrics": "HEAD - PAIN - sun, from",
        "assessment": "Chronic, long-standing",
        "plan": "Review in 5 weeks",
        **over,
    }


def _write_visit(doc, patient) -> str:
    """The practitioner writes a case note through the page; the visit id."""
    resp = doc.post(f"/console/patients/{patient.id}/visits/new", _note())
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return resp.location.rsplit("/", 1)[-1]


def _prescribe(doc, visit_id, **over):
    return doc.post(
        f"/console/patients/visits/{visit_id}/prescriptions",
        {
            "remedy": f"Natrum muriaticum {MARKER}",
            "potency": "200c",
            "form": "globules",
            "dose": "3 pills",
            "frequency": "single dose",
            "start_date": "2026-12-05",
            "follow_up_from_days": "1",
            "follow_up_to_days": "42",
            **over,
        },
        token_from=f"/console/patients/visits/{visit_id}",
    )


def test_practitioner_writes_signs_prescribes_amends_and_reads_history(practice, sql):
    """Note → sign → prescribe (amendment after signing needs a reason) → amend → history."""
    patient = PatientFactory(clinic=practice.clinic, full_name="Asha Rao")
    doc = console(practice.clinic, "practitioner")
    page = doc.text(f"/console/patients/{patient.id}")
    assert "data-chart" in page and "No case notes yet." in page
    visit_id = _write_visit(doc, patient)
    page = doc.text(f"/console/patients/visits/{visit_id}")
    assert MARKER in page and "Draft (not signed)" in page
    # the sections are one sealed note: nothing readable in the database
    assert sql(
        "SELECT count(*) FROM case_notes WHERE encode(body_enc, 'escape') LIKE %s", f"%{MARKER}%"
    ) == [(0,)]
    assert doc.post(f"/console/patients/visits/{visit_id}/sign", {}).status_code == 302
    assert sql("SELECT status FROM clinical_visits WHERE id = %s", visit_id) == [("signed",)]
    # after signing, a prescription is an amendment: without a reason it is refused inline
    resp = _prescribe(doc, visit_id)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "error-summary" in body and "Natrum muriaticum" in body
    resp = _prescribe(doc, visit_id, amendment_reason="Remedy chosen after repertorisation")
    assert resp.status_code == 302
    page = doc.text(f"/console/patients/visits/{visit_id}")
    assert "200C" in page and "from 2026-12-05" in page
    # amend: refused without a reason, keeps the text
    changed = _note(plan="Review in 4 weeks instead")
    resp = doc.post(f"/console/patients/visits/{visit_id}", {**changed, "expected_version": "1"})
    body = resp.get_data(as_text=True)
    assert (
        resp.status_code == 422 and "Review in 4 weeks instead" in body and "with a reason" in body
    )
    resp = doc.post(
        f"/console/patients/visits/{visit_id}",
        {**changed, "expected_version": "1", "reason": "Patient rang: earlier review"},
    )
    assert resp.status_code == 302
    history = doc.text(f"/console/patients/visits/{visit_id}/history")
    assert "Version 2 (amendment)" in history and "Patient rang: earlier review" in history
    assert (
        "<del>-Review in 5 weeks</del>" in history
        and "<ins>+Review in 4 weeks instead</ins>" in history
    )
    assert doc.member.name in history
    actions = {
        a for (a,) in sql("SELECT action FROM audit_log WHERE tenant_id = %s", practice.clinic.id)
    }
    assert {
        "clinical.visit_created",
        "clinical.visit_signed",
        "clinical.note_amended",
        "clinical.prescription_added",
        "clinical.read",
    } <= actions


def test_potency_is_validated_and_the_input_kept(practice):
    """A potency like 30Z is refused inline; everything typed stays."""
    patient = PatientFactory(clinic=practice.clinic)
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    resp = _prescribe(doc, visit_id, potency="30Z", dose="5 drops")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'href="#potency"' in body and 'value="30Z"' in body and 'value="5 drops"' in body
    for good in ("6C", "30C", "1M", "LM1", "Q1"):
        assert _prescribe(doc, visit_id, potency=good).status_code == 302


def test_recall_list_book_now_and_invitation(practice, sql):
    """A due follow-up is on the list with a phone-booking link and an invitation button."""
    patient = PatientFactory(clinic=practice.clinic, full_name="Lena Vogel")
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    assert _prescribe(doc, visit_id, follow_up_service_id=practice.service_id).status_code == 302
    (rx_id,) = sql("SELECT id FROM prescriptions WHERE visit_id = %s", visit_id)[0]
    for role in ("practitioner", "receptionist"):
        page = console(practice.clinic, role).text("/console/follow-ups")
        assert "Lena Vogel" in page
        link = (
            re.search(r'href="(/console/calendar/book\?[^"]+)"', page)
            .group(1)
            .replace("&amp;", "&")
        )
        assert f"patient={patient.id}" in link and f"service={practice.service_id}" in link
        assert ("200C" in page) == (role == "practitioner")
    desk = console(practice.clinic, "receptionist")
    assert "Lena Vogel" in desk.text(link)
    # no consent to email reminders: refused with a message, nothing sent
    resp = desk.post(f"/console/follow-ups/{rx_id}/invite", {}, token_from="/console/follow-ups")
    assert resp.status_code == 302
    assert "not agreed to reminders" in desk.text("/console/follow-ups")
    resp = desk.post(
        f"/console/patients/{patient.id}/consents",
        {"purpose": "reminders_email", "text_version": "v2", "channel": "phone"},
        token_from=f"/console/patients/{patient.id}",
    )
    assert resp.status_code == 302
    resp = desk.post(f"/console/follow-ups/{rx_id}/invite", {}, token_from="/console/follow-ups")
    assert resp.status_code == 302
    outbox = sql(
        "SELECT payload->>'body' FROM outbox WHERE tenant_id = %s AND topic = 'email.follow_up_invitation'",
        practice.clinic.id,
    )
    assert len(outbox) == 1 and MARKER not in outbox[0][0]
    # filter "due for follow-up" on the list
    assert "Lena Vogel" in desk.text("/console/patients?filter=follow_up")
    assert "Lena Vogel" not in desk.text("/console/patients?filter=upcoming")


def _receptionist_paths(patient, visit_id, att_id):
    return [
        "/console/patients",
        f"/console/patients?q={patient.full_name.split()[0]}",
        "/console/patients?filter=follow_up",
        f"/console/patients/{patient.id}",
        "/console/follow-ups",
        f"/console/patients/visits/{visit_id}",
        f"/console/patients/visits/{visit_id}/history",
        f"/console/patients/attachments/{att_id}",
        f"/console/patients/{patient.id}/visits/new",
        "/console/",
    ]


def test_receptionist_gets_no_clinical_bytes(practice, sql):
    """Every page and action a receptionist can reach is scanned for a marker of a note."""
    patient = PatientFactory(clinic=practice.clinic, full_name="Maya Iyer")
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    assert _prescribe(doc, visit_id).status_code == 302
    resp = doc.client.post(
        f"/console/patients/{patient.id}/attachments",
        data={"file": (__import__("io").BytesIO(PDF), f"{MARKER}.pdf"), "csrf_token": doc.token()},
        base_url=doc.base,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, resp.status_code
    (att_id,) = sql("SELECT id FROM patient_attachments WHERE patient_id = %s", patient.id)[0]
    desk = console(practice.clinic, "receptionist")
    seen = []
    for path in _receptionist_paths(patient, visit_id, att_id):
        resp = desk.get(path)
        seen.append((path, resp.status_code))
        assert MARKER.encode() not in resp.data, path
        assert b"Natrum" not in resp.data and b"Grief kept silent" not in resp.data, path
    statuses = dict(seen)
    assert statuses[f"/console/patients/{patient.id}"] == 200
    assert statuses[f"/console/patients/visits/{visit_id}"] in (403, 404)
    page = desk.text(f"/console/patients/{patient.id}")
    assert "data-chart" not in page and "Chart" not in page and "Prescriptions" not in page
    for path, data in [
        (f"/console/patients/visits/{visit_id}", _note()),
        (f"/console/patients/visits/{visit_id}/draft", _note()),
        (f"/console/patients/visits/{visit_id}/sign", {}),
        (f"/console/patients/visits/{visit_id}/prescriptions", {"remedy": "x", "potency": "30C"}),
        (f"/console/patients/{patient.id}/visits/new", _note()),
    ]:
        resp = desk.post(path, data)
        assert resp.status_code in (403, 404), path
        assert MARKER.encode() not in resp.data, path
    assert sql(
        "SELECT count(*) FROM case_notes cn JOIN clinical_visits v ON v.id = cn.visit_id "
        "WHERE v.patient_id = %s",
        patient.id,
    ) == [(1,)]


@pytest.mark.parametrize("role", ROLES)
def test_patient_page_by_role(practice, role):
    """Everyone sees contact details and visits; only clinical roles get the chart."""
    patient = PatientFactory(
        clinic=practice.clinic, full_name="Omar Haddad", phone="+49 30 5550199"
    )
    doc = console(practice.clinic, "practitioner")
    _write_visit(doc, patient)
    page = console(practice.clinic, role).text(f"/console/patients/{patient.id}")
    assert "Omar Haddad" in page and "+49 30 5550199" in page
    clinical = role in ("owner", "practitioner")  # admins have no clinical access by default
    assert ("data-chart" in page) == clinical and (MARKER in page) == clinical
    assert ("Erase this patient" in page) == (role in ("owner", "admin"))


def test_list_search_by_name_email_and_phone(practice):
    """Name substring, exact email (blind index) and phone find the patient."""
    p = PatientFactory(clinic=practice.clinic, full_name="Priya Nair", phone="+44 20 7946 0111")
    PatientFactory(clinic=practice.clinic, full_name="Tom Baker")
    desk = console(practice.clinic, "receptionist")
    assert "Priya Nair" in desk.text("/console/patients?q=priy")
    assert "Tom Baker" not in desk.text("/console/patients?q=priy")
    assert "Priya Nair" in desk.text(f"/console/patients?q={p.email}")
    assert "Priya Nair" not in desk.text("/console/patients?q=nobody@example.org")
    assert "Priya Nair" in desk.text("/console/patients?q=020 7946 0111")


def test_another_clinics_ids_answer_404(practice, sql):
    """A console of clinic B gets 404 for clinic A's patient, visit, attachment, export."""
    patient = PatientFactory(clinic=practice.clinic)
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    assert _prescribe(doc, visit_id).status_code == 302
    (rx_id,) = sql("SELECT id FROM prescriptions WHERE visit_id = %s", visit_id)[0]
    other = console(PracticeFactory().clinic, "owner")
    for path in (
        f"/console/patients/{patient.id}",
        f"/console/patients/{patient.id}/visits/new",
        f"/console/patients/visits/{visit_id}",
        f"/console/patients/visits/{visit_id}/history",
        f"/console/patients/{patient.id}/erase",
    ):
        assert other.get(path).status_code == 404, path
    for path in (
        f"/console/patients/visits/{visit_id}",
        f"/console/patients/visits/{visit_id}/sign",
        f"/console/patients/visits/{visit_id}/prescriptions",
        f"/console/patients/{patient.id}/export",
        f"/console/patients/{patient.id}/consents",
        f"/console/follow-ups/{rx_id}/invite",
    ):
        assert other.post(path, _note()).status_code == 404, path
    assert sql("SELECT status FROM clinical_visits WHERE id = %s", visit_id) == [("open",)]


def test_draft_autosave_saves_unsigned_notes_only(practice, sql):
    """The draft endpoint adds a version when the text changed; a signed note is refused."""
    patient = PatientFactory(clinic=practice.clinic)
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    path = f"/console/patients/visits/{visit_id}/draft"
    resp = doc.post(
        path,
        {**_note(plan="Draft plan"), "expected_version": "1"},
        token_from=f"/console/patients/visits/{visit_id}",
    )
    assert resp.status_code == 200 and resp.get_json() == {"saved": True, "version": 2}
    resp = doc.post(
        path,
        {**_note(plan="Draft plan"), "expected_version": "2"},
        token_from=f"/console/patients/visits/{visit_id}",
    )
    assert resp.get_json()["saved"] is False
    assert doc.post(f"/console/patients/visits/{visit_id}/sign", {}).status_code == 302
    resp = doc.post(
        path,
        {**_note(plan="Later"), "expected_version": "2"},
        token_from=f"/console/patients/visits/{visit_id}",
    )
    assert resp.status_code == 409
    assert sql("SELECT max(version) FROM case_notes WHERE visit_id = %s", visit_id) == [(2,)]


def test_draft_autosave_needs_the_csrf_token_and_a_session(practice, app, sql):
    """No token: 400 and nothing saved; signed out: a redirect to sign in (the page keeps text)."""
    from tests.client import new_client

    patient = PatientFactory(clinic=practice.clinic)
    doc = console(practice.clinic, "practitioner")
    visit_id = _write_visit(doc, patient)
    path = f"/console/patients/visits/{visit_id}/draft"
    resp = doc.client.post(path, data=_note(plan="No token"), base_url=doc.base)
    assert resp.status_code == 400
    resp = new_client(app).post(path, data=_note(plan="Signed out"), base_url=doc.base)
    assert resp.status_code == 302 and "/login" in resp.location
    assert sql("SELECT max(version) FROM case_notes WHERE visit_id = %s", visit_id) == [(1,)]


def test_erase_needs_the_name_and_keeps_the_input(practice, sql):
    """A wrong name is refused inline (input kept); the right one erases; others cannot."""
    patient = PatientFactory(clinic=practice.clinic, full_name="Erik Lund")
    for role in ("practitioner", "receptionist"):
        assert (
            console(practice.clinic, role).get(f"/console/patients/{patient.id}/erase").status_code
            == 403
        )
    owner = console(practice.clinic, "owner")
    path = f"/console/patients/{patient.id}/erase"
    resp = owner.post(
        path, {"reason": "patient_request", "reference": "REQ-42", "confirm_name": "Erik"}
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'value="REQ-42"' in body and "Does not match" in body
    assert sql("SELECT status FROM patients WHERE id = %s", patient.id) == [("active",)]
    resp = owner.post(
        path, {"reason": "patient_request", "reference": "REQ-42", "confirm_name": "Erik Lund"}
    )
    assert resp.status_code == 302 and resp.location.endswith(f"/console/patients/{patient.id}")
    assert sql("SELECT status FROM patients WHERE id = %s", patient.id) == [("erased",)]
    # the patient page now shows the erased state, and nothing of the person
    page = owner.text(f"/console/patients/{patient.id}")
    assert "data-erased" in page and "Erik Lund" not in page
    assert "Nothing of the clinical record was kept" in page
    assert owner.get(f"/console/patients/{patient.id}/erase").status_code == 404


def test_export_request_and_download(practice, worker, sql):
    """The owner requests an export; once the worker built it, the page offers the download."""
    from tests.helpers import drain

    patient = PatientFactory(clinic=practice.clinic, full_name="Ines Braun")
    owner = console(practice.clinic, "owner")
    assert (
        owner.post(
            f"/console/patients/{patient.id}/export",
            {},
            token_from=f"/console/patients/{patient.id}",
        ).status_code
        == 302
    )
    drain(worker, "records")
    page = owner.text(f"/console/patients/{patient.id}")
    link = re.search(r'href="(/console/patients/exports/[^"]+/download)"', page).group(1)
    resp = owner.get(link)
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.data[:2] == b"PK"
    # once only
    assert owner.get(link).status_code == 302
    assert console(practice.clinic, "receptionist").get(link).status_code == 403


def test_attachments_download_as_files_and_consents_are_withdrawn(practice, sql):
    """An upload is sniffed (a fake PDF is refused inline); downloads are attachments."""
    import io

    patient = PatientFactory(clinic=practice.clinic, full_name="Sara Costa")
    doc = console(practice.clinic, "practitioner")

    def upload(data: bytes, name: str):
        return doc.client.post(
            f"/console/patients/{patient.id}/attachments",
            data={"file": (io.BytesIO(data), name), "csrf_token": doc.token()},
            base_url=doc.base,
            content_type="multipart/form-data",
        )

    resp = upload(b"MZ not a pdf at all", "report.pdf")
    assert resp.status_code in (400, 415, 422) and "error-summary" in resp.get_data(as_text=True)
    assert upload(PDF, "lab report.pdf").status_code == 302
    page = doc.text(f"/console/patients/{patient.id}")
    link = re.search(r'href="(/console/patients/attachments/[^"]+)"', page).group(1)
    resp = doc.get(link)
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Disposition"].startswith("attachment")
    desk = console(practice.clinic, "receptionist")
    resp = desk.post(
        f"/console/patients/{patient.id}/consents",
        {"purpose": "marketing_email", "text_version": "", "channel": "paper"},
        token_from=f"/console/patients/{patient.id}",
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Enter the version of the wording." in body
    assert re.search(
        r"<option selected value=\"marketing_email\"|<option value=\"marketing_email\" selected",
        body,
    )
    resp = desk.post(
        f"/console/patients/{patient.id}/consents",
        {"purpose": "marketing_email", "text_version": "2026-01", "channel": "paper"},
        token_from=f"/console/patients/{patient.id}",
    )
    assert resp.status_code == 302
    (consent_id,) = sql("SELECT id FROM patient_consents WHERE patient_id = %s", patient.id)[0]
    assert desk.post(f"/console/patients/consents/{consent_id}/withdraw", {}).status_code == 302
    assert sql(
        "SELECT withdrawn_at IS NOT NULL FROM patient_consents WHERE id = %s", consent_id
    ) == [(True,)]
    page = desk.text(f"/console/patients/{patient.id}")
    assert "Marketing email (2026-01)" in page
