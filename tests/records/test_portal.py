"""The patient's own portal API: profile, shared visit summaries and prescriptions, consents."""

from __future__ import annotations

import pytest

from .conftest import Api, new_visit


@pytest.fixture
def portal(app, team, raw):
    """A registered, verified patient of clinic A with a portal token."""
    from saas.security.passwords import hash_password

    anon = team.api("anonymous")
    email = f"pat-{team.clinic.slug}@example.org"
    reg = anon.post("/api/v1/patients/register", json={"full_name": "Pia Portal", "email": email})
    assert reg.status_code == 202
    # stands in for following the emailed link (tested in tests/test_patients_api.py)
    raw(
        "UPDATE patients SET email_verified_at = now(), password_hash = %s WHERE tenant_id = %s RETURNING id",
        (hash_password("remedy arnica 30C"), team.clinic.id),
    )
    tok = anon.post(
        "/api/v1/patients/token", json={"email": email, "password": "remedy arnica 30C"}
    )
    me = Api(app, team.clinic, tok.get_json()["access_token"])
    return me.get("/api/v1/patients/me").get_json()["id"], me


def test_profile_read_and_update(portal, team, raw):
    """The patient updates their own contact details (sealed); email cannot be changed here."""
    pid, me = portal
    resp = me.patch(
        "/api/v1/patients/me/profile",
        json={
            "phone": "+91 98765 43210",
            "date_of_birth": "1990-05-01",
            "preferred_language": "hi",
            "communication_prefs": {"sms": True, "email": False},
        },
    )
    assert resp.status_code == 200, resp.get_json()
    got = me.get("/api/v1/patients/me/profile").get_json()
    assert got["phone"] == "+91 98765 43210" and got["communication_prefs"] == {
        "sms": True,
        "email": False,
    }
    assert (
        me.patch("/api/v1/patients/me/profile", json={"email": "x@example.org"}).status_code == 422
    )
    bad = me.patch(
        "/api/v1/patients/me/profile", json={"phone": "nope", "date_of_birth": "3000-01-01"}
    )
    assert bad.status_code == 422 and {"phone", "date_of_birth"} <= set(
        bad.get_json()["errors"]["json"]
    )
    (phone,) = raw("SELECT phone_enc FROM patients WHERE id = %s", (pid,))[0]
    assert b"98765" not in bytes(phone)
    assert team.api().get(f"/api/v1/patients/{pid}").get_json()["phone"] == "+91 98765 43210"


def test_patient_sees_only_what_was_shared(portal, team, raw):
    """Unshared or unsigned visits and unshared/void prescriptions stay hidden; no case notes."""
    pid, me = portal
    doc = team.api()
    shared = new_visit(doc, pid, visit_date="2026-01-10")
    hidden = new_visit(doc, pid, visit_date="2026-02-10")
    assert (
        doc.put(
            f"/api/v1/visits/{shared['id']}/sharing",
            json={"shared_with_patient": True, "patient_summary": "Take the remedy once"},
        ).status_code
        == 409
    )
    doc.post(f"/api/v1/visits/{shared['id']}/sign")
    ok = doc.put(
        f"/api/v1/visits/{shared['id']}/sharing",
        json={"shared_with_patient": True, "patient_summary": "Take the remedy once"},
    )
    assert ok.status_code == 200
    rx1 = doc.post(
        f"/api/v1/visits/{hidden['id']}/prescriptions",
        json={"remedy": "Pulsatilla", "potency": "30C", "shared_with_patient": True},
    ).get_json()
    doc.post(
        f"/api/v1/visits/{hidden['id']}/prescriptions", json={"remedy": "Sepia", "potency": "200C"}
    )
    visits = me.get("/api/v1/patients/me/visits").get_json()
    assert [v["summary"] for v in visits] == ["Take the remedy once"]
    assert "Weeps" not in me.get("/api/v1/patients/me/visits").get_data(as_text=True)
    assert [r["remedy"] for r in me.get("/api/v1/patients/me/prescriptions").get_json()] == [
        "Pulsatilla"
    ]
    doc.post(f"/api/v1/prescriptions/{rx1['id']}/void", json={"reason": "changed"})
    assert me.get("/api/v1/patients/me/prescriptions").get_json() == []
    reads = raw(
        "SELECT actor_label FROM audit_log WHERE tenant_id = %s AND action = 'clinical.read' "
        "AND data->>'record' LIKE 'shared_%%'",
        (team.clinic.id,),
    )
    assert reads and all(r[0] == f"patient:{pid}" for r in reads)


def test_consents_on_the_portal(portal, team):
    """Give and withdraw a consent on the portal; staff see the same history."""
    pid, me = portal
    given = me.post(
        "/api/v1/patients/me/consents",
        json={"purpose": "reminders_email", "text_version": "2026-01"},
    )
    assert given.status_code == 201 and given.get_json()["channel"] == "portal"
    assert (
        me.post("/api/v1/patients/me/consents/reminders_email/withdraw").get_json()["active"]
        is False
    )
    assert me.post("/api/v1/patients/me/consents/reminders_email/withdraw").status_code == 404
    staff_view = team.api("receptionist").get(f"/api/v1/patients/{pid}/consents").get_json()
    assert [(c["purpose"], c["active"]) for c in staff_view] == [("reminders_email", False)]


def test_tokens_do_not_cross(portal, team, app):
    """A patient token is refused on another clinic and on staff routes; staff tokens on portal."""
    pid, me = portal
    on_b = Api(app, team.other, me.token)
    for path in (
        "/api/v1/patients/me/profile",
        "/api/v1/patients/me/visits",
        "/api/v1/patients/me/prescriptions",
        "/api/v1/patients/me/consents",
    ):
        assert on_b.get(path).status_code == 401
        assert team.api().get(path).status_code == 401
        assert team.api("anonymous").get(path).status_code == 401
    assert me.get(f"/api/v1/patients/{pid}/record").status_code == 401


def test_erasure_of_a_portal_patient_scrubs_mail_and_logins(portal, team, raw):
    """The verification mail (outbox) and portal tokens go with the erasure; the login fails."""
    from .test_encryption import scan

    pid, me = portal
    email = f"pat-{team.clinic.slug}@example.org"
    # the verification mail is in the outbox: with the address until the relay delivers it
    # (then the relay scrubs it), so erasure has to handle both states
    assert (
        raw(
            "SELECT count(*) FROM outbox WHERE tenant_id = %s AND topic LIKE 'email.%%'",
            (team.clinic.id,),
        )[0][0]
        >= 1
    )
    body = {"confirm_name": "Pia Portal", "reason": "patient_request"}
    assert team.api("owner").post(f"/api/v1/patients/{pid}/erasure", json=body).status_code == 200
    assert scan(raw, team.clinic.id, [email, "Pia Portal"]) == {}
    assert me.get("/api/v1/patients/me/profile").status_code == 401
    login = team.api("anonymous").post(
        "/api/v1/patients/token", json={"email": email, "password": "remedy arnica 30C"}
    )
    assert login.status_code == 401
