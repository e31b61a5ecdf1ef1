"""Prescriptions, the recall list and follow-up invitations."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from saas.devmail import read_messages
from tests.helpers import text_of

from .conftest import add_practice, new_patient, new_visit


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
    practice = add_practice(team.api("owner"), user_id=str(team.practitioner.id))
    service = practice["visit_type_id"]
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
    assert f"service_id={service}" in url
    assert f"practitioner_id={practice['practitioner_id']}" in url
    window_from = max(rx1["follow_up_from"], _clinic_today(team).isoformat())  # from today on
    assert f"from={window_from}" in url and f"to={rx1['follow_up_to']}" in url
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
    practice = add_practice(team.api("owner"), user_id=str(team.practitioner.id))
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
    body = text_of(mine[0])
    link = re.search(
        r"/book\?practitioner_id=([0-9a-f-]+)&from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d&follow_up=",
        body,
    )
    assert link and link.group(1) == practice["practitioner_id"]  # the practitioner, not the user
    assert "Natrum" not in body


def _clinic_today(team) -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/London")).date()  # make_clinic's zone


def _recall_today(team, visit_type_id, days: tuple[int, int]) -> tuple[dict, dict]:
    """A visit today prescribing a follow-up ``days`` later; returns (prescription, recall)."""
    doc = team.api()
    p = new_patient(doc, full_name="Dev Follow")
    v = new_visit(doc, p["id"], visit_date=_clinic_today(team).isoformat())
    rx = _rx(
        doc,
        v["id"],
        follow_up_from_days=days[0],
        follow_up_to_days=days[1],
        follow_up_service_id=visit_type_id,
    )
    assert rx.status_code == 201, rx.get_json()
    (item,) = doc.get("/api/v1/recalls?within_days=14").get_json()
    return rx.get_json(), item


def test_recall_slots_url_lists_the_practitioners_free_slots(team):
    """Following a recall item's ``slots_url`` answers that practitioner's free slots.

    The link carries the practitioner's id (not the prescriber's staff account id), the
    follow-up visit type and the window as ``from``/``to`` local dates, as the slots API takes
    them; a colleague offering the same visit type at the same hours is not in the answer.
    """
    practice = add_practice(team.api("owner"), user_id=str(team.practitioner.id), colleague=True)
    doc = team.api()
    rx, item = _recall_today(team, practice["visit_type_id"], (7, 10))
    query = parse_qs(urlsplit(item["slots_url"]).query)
    assert query == {
        "service_id": [practice["visit_type_id"]],
        "practitioner_id": [practice["practitioner_id"]],
        "from": [rx["follow_up_from"]],
        "to": [rx["follow_up_to"]],
    }
    assert parse_qs(urlsplit(item["booking_url"]).query) == {
        **query,
        "follow_up": [rx["id"]],
    }

    followed = doc.get(item["slots_url"])
    assert followed.status_code == 200, followed.get_json()
    slots = followed.get_json()
    assert slots["count"] > 0
    assert {g["practitioner"]["id"] for g in slots["groups"]} == {practice["practitioner_id"]}
    days = {
        dt.datetime.fromisoformat(s).astimezone(ZoneInfo(slots["timezone"])).date().isoformat()
        for g in slots["groups"]
        for s in g["starts"]
    }
    assert min(days) == rx["follow_up_from"] and max(days) == rx["follow_up_to"]
    # the same query without the practitioner finds the colleague too: the filter is real
    everyone = doc.get(
        "/api/v1/slots",
        query_string={k: v[0] for k, v in query.items() if k != "practitioner_id"},
    ).get_json()
    assert {g["practitioner"]["id"] for g in everyone["groups"]} == {
        practice["practitioner_id"],
        practice["colleague_id"],
    }


def test_recall_link_stays_within_what_the_slots_api_searches(team):
    """A long window is offered 60 days at a time; without a linked profile, no practitioner."""
    practice = add_practice(team.api("owner"))  # the practitioner has no staff account
    doc = team.api()
    rx, item = _recall_today(team, practice["visit_type_id"], (1, 200))
    query = parse_qs(urlsplit(item["slots_url"]).query)
    assert "practitioner_id" not in query  # the prescriber has no practitioner profile
    start = dt.date.fromisoformat(rx["follow_up_from"])
    assert query["from"] == [start.isoformat()]
    assert query["to"] == [(start + dt.timedelta(days=59)).isoformat()]
    followed = doc.get(item["slots_url"])
    assert followed.status_code == 200 and followed.get_json()["count"] > 0


def test_follow_up_visit_type_must_be_one_of_the_clinics(team):
    """An unknown, archived or other clinic's visit type is refused by name (422, not 500)."""
    doc = team.api()
    mine = add_practice(team.api("owner"))["visit_type_id"]
    theirs = add_practice(team.api("other"))["visit_type_id"]
    p = new_patient(doc)
    v = new_visit(doc, p["id"])
    window = {"follow_up_from_days": 28, "follow_up_to_days": 42}
    for wrong in (theirs, str(uuid.uuid4())):
        refused = _rx(doc, v["id"], follow_up_service_id=wrong, **window)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["errors"]["json"]["follow_up_service_id"] == [
            "No such visit type at this clinic."
        ]
    assert team.api("owner").delete(f"/api/v1/practice/services/{mine}").status_code == 204
    archived = _rx(doc, v["id"], follow_up_service_id=mine, **window)
    assert archived.status_code == 422
    assert "follow_up_service_id" in archived.get_json()["errors"]["json"]
    assert doc.get(f"/api/v1/patients/{p['id']}/prescriptions").get_json() == []


def test_link_window_offers_the_follow_up_from_today_on():
    """Upcoming: the window; due: from today; overdue: its length again from today; <= 60 days."""
    from types import SimpleNamespace

    from saas.records.followups import link_window

    today = dt.date(2026, 3, 10)

    def window(start: str, end: str):
        rx = SimpleNamespace(
            follow_up_from=dt.date.fromisoformat(start), follow_up_to=dt.date.fromisoformat(end)
        )
        got = link_window(rx, today)
        return got[0].isoformat(), got[1].isoformat()

    assert window("2026-03-20", "2026-03-30") == ("2026-03-20", "2026-03-30")
    assert window("2026-03-01", "2026-03-15") == ("2026-03-10", "2026-03-15")
    assert window("2026-02-01", "2026-02-11") == ("2026-03-10", "2026-03-20")
    assert window("2026-03-20", "2026-12-31") == ("2026-03-20", "2026-05-18")
    assert link_window(SimpleNamespace(follow_up_from=None, follow_up_to=None), today) is None
