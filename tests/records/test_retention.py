"""Retention and legal hold through the API.

An erasure within the clinic's retention period keeps the clinical record (and the name and
date of birth it belongs to) until the period ends, then the daily job erases it; a legal
hold (owners only, reason sealed, audited) stops every erasure, by hand or by the job.
"""

from __future__ import annotations

import datetime as dt

from .conftest import new_patient, new_visit
from .test_encryption import _full_record

ERASE = {"confirm_name": "Maya Krishnan", "reason": "patient_request", "reference": "REQ-7"}
HOLD_REASON = "HOLDMARK claim 2026-114 from the patient's solicitor"


def _retention(app, team, *, now: dt.datetime) -> int:
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.records.gdpr import apply_retention

    with app.app_context(), tenant_session(team.clinic.id) as sess:
        return apply_retention(sess, sess.get(Tenant, team.clinic.id), now=now)


def test_only_an_owner_sets_the_retention(team, add_staff):
    """Admins manage settings but not the retention period; bad values name the field."""
    team.extra["admin"] = add_staff(team.clinic, "admin")
    admin = team.api("admin")
    refused = admin.put("/api/v1/records/settings", json={"retention_years": 5})
    assert refused.status_code == 403
    assert "retention_years" in refused.get_json()["errors"]["json"]
    bad = team.api("owner").put("/api/v1/records/settings", json={"retention_years": 101})
    assert bad.status_code == 422 and "retention_years" in bad.get_json()["errors"]["json"]
    ok = team.api("owner").put("/api/v1/records/settings", json={"retention_years": 10})
    assert ok.get_json()["retention_years"] == 10
    assert admin.get("/api/v1/records/settings").get_json()["retention_years"] == 10


def test_erasure_within_retention_keeps_the_record_until_the_period_ends(app, team, raw):
    """Contact details, consents and account go now; notes and prescriptions stay until due."""
    owner = team.api("owner")
    owner.put("/api/v1/records/settings", json={"retention_years": 10})
    p, v = _full_record(team)  # a visit on 2026-01-15
    team.api("receptionist").post(
        f"/api/v1/patients/{p['id']}/consents",
        json={"purpose": "treatment", "text_version": "v1", "channel": "paper"},
    )
    done = owner.post(f"/api/v1/patients/{p['id']}/erasure", json=ERASE)
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["status"] == "erased" and body["records_kept_until"] == "2036-01-15"
    assert body["removed"]["consents"] == 1 and "case_notes" not in body["removed"]

    row = raw(
        "SELECT full_name, email_enc IS NULL, phone_enc IS NULL, date_of_birth_enc IS NULL, "
        "password_hash IS NULL, records_kept_until::text FROM patients WHERE id = %s",
        (p["id"],),
    )[0]
    assert row == ("Maya Krishnan", True, True, False, True, "2036-01-15")
    counts = raw(
        "SELECT (SELECT count(*) FROM case_notes n JOIN clinical_visits v ON v.id = n.visit_id "
        "WHERE v.patient_id = %(p)s), (SELECT count(*) FROM prescriptions WHERE patient_id = %(p)s),"
        " (SELECT count(*) FROM patient_attachments WHERE patient_id = %(p)s),"
        " (SELECT count(*) FROM patient_consents WHERE patient_id = %(p)s)",
        {"p": p["id"]},
    )[0]
    assert counts == (1, 1, 1, 0)
    (audit,) = raw(
        "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'patient.erased'",
        (team.clinic.id,),
    )
    assert audit[0]["records_kept_until"] == "2036-01-15"
    # an erased patient is gone from the API even though the record is kept
    assert owner.get(f"/api/v1/patients/{p['id']}").status_code == 404
    assert owner.get(f"/api/v1/visits/{v['id']}").status_code == 404

    # the day before the date nothing happens; on the date the job erases the kept record
    assert _retention(app, team, now=dt.datetime(2036, 1, 14, 12, tzinfo=dt.UTC)) == 0
    assert raw("SELECT count(*) FROM prescriptions WHERE patient_id = %s", (p["id"],)) == [(1,)]
    _retention(app, team, now=dt.datetime(2036, 1, 15, 12, tzinfo=dt.UTC))
    assert raw(
        "SELECT full_name, date_of_birth_enc IS NULL, records_kept_until FROM patients "
        "WHERE id = %s",
        (p["id"],),
    ) == [("Erased patient", True, None)]
    assert raw("SELECT count(*) FROM prescriptions WHERE patient_id = %s", (p["id"],)) == [(0,)]
    purged = raw(
        "SELECT actor_label, data FROM audit_log WHERE tenant_id = %s "
        "AND action = 'patient.records_purged'",
        (team.clinic.id,),
    )
    assert purged[0][0] == "system" and purged[0][1]["removed"]["case_notes"] == 1
    assert purged[0][1]["kept_until"] == "2036-01-15"


def test_erasure_after_the_period_destroys_everything(team, raw):
    """A last visit longer ago than the retention: nothing is kept."""
    owner = team.api("owner")
    owner.put("/api/v1/records/settings", json={"retention_years": 3})
    p = new_patient(owner, full_name="Old Friend")
    new_visit(team.api(), p["id"], visit_date="2020-03-01")
    done = owner.post(
        f"/api/v1/patients/{p['id']}/erasure",
        json={"confirm_name": "Old Friend", "reason": "patient_request"},
    )
    assert done.get_json()["records_kept_until"] is None
    assert done.get_json()["removed"]["case_notes"] == 1
    assert raw("SELECT full_name FROM patients WHERE id = %s", (p["id"],)) == [("Erased patient",)]


def test_legal_hold_is_owner_only_sealed_audited_and_stops_erasure(app, team, raw, add_staff):
    """Hold with a reason → erasure 409 with the reason why; the job skips; release → erasable."""
    team.extra["admin"] = add_staff(team.clinic, "admin")
    owner = team.api("owner")
    p, _ = _full_record(team)
    path = f"/api/v1/patients/{p['id']}/legal-hold"
    for who in ("admin", "practitioner", "receptionist"):
        assert team.api(who).post(path, json={"reason": HOLD_REASON}).status_code == 403, who
    assert team.api("other").post(path, json={"reason": HOLD_REASON}).status_code == 404
    assert team.api("other").get(path).status_code == 404
    missing = owner.post(path, json={})
    assert missing.status_code == 422 and "reason" in missing.get_json()["errors"]["json"]
    blank = owner.post(path, json={"reason": "   "})
    assert blank.status_code == 422 and "reason" in blank.get_json()["errors"]["json"]
    assert owner.get(path).get_json()["on_hold"] is False

    held = owner.post(path, json={"reason": HOLD_REASON})
    assert held.status_code == 200, held.get_json()
    assert held.get_json()["on_hold"] is True and held.get_json()["reason"] == HOLD_REASON
    assert owner.post(path, json={"reason": "again"}).status_code == 409
    # the reason is sealed; the audit says only that one was given
    assert raw(
        "SELECT position(%s in encode(legal_hold_reason_enc, 'escape')) FROM patients "
        "WHERE id = %s",
        ("HOLDMARK", p["id"]),
    ) == [(0,)]
    assert raw(
        "SELECT actor_label, data FROM audit_log WHERE tenant_id = %s "
        "AND action = 'patient.legal_hold_placed'",
        (team.clinic.id,),
    ) == [(team.clinic.owner_email, {"reason_given": True})]

    refused = owner.post(f"/api/v1/patients/{p['id']}/erasure", json=ERASE)
    assert refused.status_code == 409
    assert "legal hold" in refused.get_json()["message"]
    assert raw("SELECT status FROM patients WHERE id = %s", (p["id"],)) == [("active",)]

    # the retention job leaves a held patient alone, however old the record
    owner.put("/api/v1/records/settings", json={"retention_years": 1})
    raw(
        "UPDATE patients SET created_at = now() - interval '9 years' WHERE id = %s RETURNING id",
        (p["id"],),
    )
    assert _retention(app, team, now=dt.datetime(2035, 1, 1, tzinfo=dt.UTC)) == 0
    assert raw("SELECT status FROM patients WHERE id = %s", (p["id"],)) == [("active",)]

    assert team.api("admin").delete(path).status_code == 403
    released = owner.delete(path)
    assert released.status_code == 200 and released.get_json()["on_hold"] is False
    assert raw(
        "SELECT legal_hold_at, legal_hold_reason_enc FROM patients WHERE id = %s", (p["id"],)
    ) == [(None, None)]
    assert owner.delete(path).status_code == 409
    assert owner.post(f"/api/v1/patients/{p['id']}/erasure", json=ERASE).status_code == 200
    actions = [
        a
        for (a,) in raw(
            "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'patient.legal%%' "
            "ORDER BY seq",
            (team.clinic.id,),
        )
    ]
    assert actions == ["patient.legal_hold_placed", "patient.legal_hold_released"]


def test_a_hold_on_a_kept_record_outlives_its_date(app, team, raw):
    """A claim after the erasure: the owner holds the kept record; the job does not purge it."""
    owner = team.api("owner")
    owner.put("/api/v1/records/settings", json={"retention_years": 10})
    p, _ = _full_record(team)
    owner.post(f"/api/v1/patients/{p['id']}/erasure", json=ERASE)
    # the API does not show erased patients; the hold is placed on the console page
    from saas.db import tenant_session
    from saas.models import Patient, Tenant, User
    from saas.records.retention import place_legal_hold

    with app.app_context(), tenant_session(team.clinic.id) as sess:
        tenant = sess.get(Tenant, team.clinic.id)
        actor = sess.get(User, (tenant.id, team.owner.id))
        place_legal_hold(
            sess, tenant, actor, sess.get(Patient, (tenant.id, p["id"])), reason="claim"
        )
    _retention(app, team, now=dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    assert raw("SELECT count(*) FROM prescriptions WHERE patient_id = %s", (p["id"],)) == [(1,)]
    assert raw("SELECT full_name FROM patients WHERE id = %s", (p["id"],)) == [("Maya Krishnan",)]
