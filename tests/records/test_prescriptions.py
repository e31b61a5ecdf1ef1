"""Prescriptions, the recall list and follow-up invitations."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from saas.devmail import read_messages

from .conftest import new_patient, new_visit


def _rx(api, visit_id, **fields):
    body = {
        "remedy": "Natrum muriaticum",
        "potency": "200c",
        "form": "pills",
        "dose": "3 pills",
        "frequency": "single dose",
        "instructions": "Avoid coffee and mint",
        **fields,
    }
    return api.post(f"/api/v1/visits/{visit_id}/prescriptions", json=body)


def test_prescription_fields_and_validation(team):
    """Potency is validated and normalised; follow-up window becomes dates; both ends needed."""
    doc = team.api()
    p = new_patient(doc)
    v = new_visit(doc, p["id"], visit_date="2026-01-15")
    bad = _rx(doc, v["id"], potency="strong", remedy="")
    assert bad.status_code == 422
    assert {"potency", "remedy"} <= set(bad.get_json()["errors"]["json"])
    half = _rx(doc, v["id"], follow_up_from_days=28)
    assert half.status_code == 422 and "follow_up_to_days" in half.get_json()["errors"]["json"]
    ok = _rx(doc, v["id"], follow_up_from_days=28, follow_up_to_days=42)
    assert ok.status_code == 201, ok.get_json()
    rx = ok.get_json()
    assert rx["potency"] == "200C" and rx["remedy"] == "Natrum muriaticum"
    assert (rx["follow_up_from"], rx["follow_up_to"]) == ("2026-02-12", "2026-02-26")
    for potency in ("6X", "D6", "30C", "1M", "10M", "LM1", "Q"):
        assert _rx(doc, v["id"], potency=potency).status_code == 201, potency


def test_signed_visit_needs_amendment_reason_and_void_keeps_history(team, raw):
    """After signing, a prescription is an amendment; voiding keeps the row with its reason."""
    doc = team.api()
    p = new_patient(doc)
    v = new_visit(doc, p["id"])
    rx = _rx(doc, v["id"]).get_json()
    doc.post(f"/api/v1/visits/{v['id']}/sign")
    late = _rx(doc, v["id"], remedy="Ignatia amara")
    assert late.status_code == 422 and "amendment_reason" in late.get_json()["errors"]["json"]
    amended = _rx(doc, v["id"], remedy="Ignatia amara", amendment_reason="Acute grief at visit end")
    assert amended.status_code == 201 and amended.get_json()["is_amendment"] is True
    voided = doc.post(f"/api/v1/prescriptions/{rx['id']}/void", json={"reason": "Wrong potency"})
    assert voided.get_json()["void_reason"] == "Wrong potency"
    assert (
        doc.post(f"/api/v1/prescriptions/{rx['id']}/void", json={"reason": "again"}).status_code
        == 409
    )
    listed = doc.get(f"/api/v1/patients/{p['id']}/prescriptions").get_json()
    assert {x["remedy"] for x in listed} == {"Natrum muriaticum", "Ignatia amara"}
    assert raw("SELECT count(*) FROM prescriptions WHERE patient_id = %s", (p["id"],))[0][0] == 2


def test_recall_list_for_desk_and_practitioner(team):
    """Due follow-ups appear.

    Receptionists see who and when but not the remedy; a later visit, voiding or closing takes an
    item off.
    """
    doc, desk = team.api(), team.api("receptionist")
    today = dt.date.today()
    p1, p2, p3 = (new_patient(doc, full_name=n) for n in ("Anna Due", "Ben Later", "Cara Void"))
    v1 = new_visit(doc, p1["id"], visit_date=(today - dt.timedelta(days=30)).isoformat())
    service = str(uuid.uuid4())
    rx1 = _rx(
        doc, v1["id"], follow_up_from_days=28, follow_up_to_days=42, follow_up_service_id=service
    ).get_json()
    v2 = new_visit(doc, p2["id"], visit_date=today.isoformat())
    _rx(doc, v2["id"], follow_up_from_days=60, follow_up_to_days=70)
    v3 = new_visit(doc, p3["id"], visit_date=(today - dt.timedelta(days=30)).isoformat())
    rx3 = _rx(doc, v3["id"], follow_up_from_days=20, follow_up_to_days=25).get_json()

    items = doc.get("/api/v1/recalls?within_days=14").get_json()
    by_name = {i["patient_name"]: i for i in items}
    assert set(by_name) == {"Anna Due", "Cara Void"}
    assert by_name["Anna Due"]["status"] == "due" and by_name["Cara Void"]["status"] == "overdue"
    assert by_name["Anna Due"]["remedy"] == "Natrum muriaticum"
    url = by_name["Anna Due"]["booking_url"]
    assert f"service_id={service}" in url and f"practitioner_id={team.practitioner.id}" in url
    assert f"start={rx1['follow_up_from']}" in url and f"end={rx1['follow_up_to']}" in url
    assert by_name["Anna Due"]["slots_url"].startswith(f"/api/v1/slots?service_id={service}")
    assert by_name["Cara Void"]["slots_url"] is None  # no follow-up service chosen

    desk_items = desk.get("/api/v1/recalls?within_days=14").get_json()
    assert {i["patient_name"] for i in desk_items} == {"Anna Due", "Cara Void"}
    assert all("remedy" not in i and "potency" not in i for i in desk_items)

    assert {i["patient_name"] for i in doc.get("/api/v1/recalls?within_days=90").get_json()} == {
        "Anna Due",
        "Ben Later",
        "Cara Void",
    }
    doc.post(f"/api/v1/prescriptions/{rx3['id']}/void", json={"reason": "Stopped"})
    new_visit(doc, p1["id"], kind="follow_up", visit_date=today.isoformat())
    assert doc.get("/api/v1/recalls?within_days=14").get_json() == []
    assert desk.post(f"/api/v1/recalls/{rx1['id']}/close").status_code == 204
    assert team.api("other").get("/api/v1/recalls?within_days=90").get_json() == []
    assert team.api("other").post(f"/api/v1/recalls/{rx1['id']}/close").status_code == 404


def test_follow_up_invitation_respects_consent(app, team, worker, mail_dir):
    """Patients with reminder consent get one email with the pre-filtered booking link.

    Patients without it get nothing.
    """
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.records.followups import invite_due_follow_ups

    doc = team.api()
    today = dt.date.today()
    yes = new_patient(doc, full_name="Yes Consent", email=f"yes-{team.clinic.slug}@example.org")
    no = new_patient(doc, full_name="No Consent", email=f"no-{team.clinic.slug}@example.org")
    consent = {"purpose": "reminders_email", "text_version": "2026-01", "channel": "in_person"}
    assert (
        team.api("receptionist")
        .post(f"/api/v1/patients/{yes['id']}/consents", json=consent)
        .status_code
        == 201
    )
    for p in (yes, no):
        v = new_visit(doc, p["id"], visit_date=(today - dt.timedelta(days=25)).isoformat())
        _rx(doc, v["id"], follow_up_from_days=28, follow_up_to_days=42)
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        tenant = sess.get(Tenant, team.clinic.id)
        assert invite_due_follow_ups(sess, tenant) == 1
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert invite_due_follow_ups(sess, sess.get(Tenant, team.clinic.id)) == 0  # once only
    worker.broker.join("outbox", timeout=20_000)
    msgs = read_messages(mail_dir)
    mine = [m for m in msgs if m["To"] == yes["email"]]
    assert len(mine) == 1 and not [m for m in msgs if m["To"] == no["email"]]
    body = mine[0].get_content()
    assert re.search(
        r"/book\?practitioner_id=[0-9a-f-]+&start=\d{4}-\d\d-\d\d&end=\d{4}-\d\d-\d\d&follow_up=",
        body,
    )
    assert "Natrum" not in body
