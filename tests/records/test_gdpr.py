"""GDPR rights end to end.

Export (worker-built, download once, time-limited), erasure (personal and clinical data destroyed,
anonymised statistics kept), retention.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from tests.helpers import drain

from .conftest import new_patient, new_visit
from .test_encryption import SECRETS, _full_record, scan


def test_export_is_assembled_by_a_worker_and_downloadable_once(team, worker, raw):
    """The owner requests; the worker seals a zip; one download returns JSON + attachments."""
    p, v = _full_record(team)
    owner = team.api("owner")
    doc = team.api()
    doc.put(
        f"/api/v1/visits/{v['id']}/note",
        json={"sections": {"plan": "Repeat in 6 weeks"}, "reason": "plan"},
    )
    assert team.api("receptionist").post(f"/api/v1/patients/{p['id']}/exports").status_code == 403
    assert doc.post(f"/api/v1/patients/{p['id']}/exports").status_code == 403
    req = owner.post(f"/api/v1/patients/{p['id']}/exports")
    assert req.status_code == 202 and req.get_json()["status"] == "pending"
    export_id = req.get_json()["id"]
    drain(worker, "records")
    status = owner.get(f"/api/v1/exports/{export_id}").get_json()
    assert status["status"] == "ready" and status["expires_at"]
    (bundle,) = raw("SELECT bundle_enc FROM record_exports WHERE id = %s", (export_id,))[0]
    assert b"record.json" not in bytes(bundle)  # sealed, not a readable zip

    other = team.api("other")
    assert other.get(f"/api/v1/exports/{export_id}/download").status_code == 404
    assert other.get(f"/api/v1/exports/{export_id}").status_code == 404
    assert other.post(f"/api/v1/patients/{p['id']}/exports").status_code == 404
    assert team.api("receptionist").get(f"/api/v1/exports/{export_id}/download").status_code == 403
    got = owner.get(f"/api/v1/exports/{export_id}/download")
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(got.data))
    record = json.loads(zf.read("record.json"))
    assert record["patient"]["email"] == p["email"]
    versions = record["visits"][0]["note_versions"]
    assert [n["version"] for n in versions] == [1, 2]
    assert (
        versions[0]["sections"]["mentals"].startswith("Weeps") and versions[1]["reason"] == "plan"
    )
    assert record["prescriptions"][0]["remedy"] == "Natrum muriaticum"
    assert record["allergies_and_medication"][0]["name"] == "Latex"
    att = record["attachments"][0]
    assert zf.read(att["path"]).startswith(b"%PDF-1.4 MRI")
    assert any(e["action"] == "clinical.read" for e in record["access_log"])

    again = owner.get(f"/api/v1/exports/{export_id}/download")
    assert again.status_code == 410
    assert raw("SELECT bundle_enc IS NULL, status FROM record_exports WHERE id = %s", (export_id,))[
        0
    ] == (True, "downloaded")
    actions = [
        a for (a,) in raw("SELECT action FROM audit_log WHERE tenant_id = %s", (team.clinic.id,))
    ]
    assert {"records.export_requested", "records.export_ready", "records.export_downloaded"} <= set(
        actions
    )


def test_expired_export_cannot_be_downloaded(app, team, worker, raw):
    """Past its time limit the bundle is destroyed and the download answers 410."""
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.records.gdpr import expire_exports

    p = new_patient(team.api())
    export_id = team.api("owner").post(f"/api/v1/patients/{p['id']}/exports").get_json()["id"]
    drain(worker, "records")
    raw(
        "UPDATE record_exports SET expires_at = now() - interval '1 minute' WHERE id = %s RETURNING id",
        (export_id,),
    )
    assert team.api("owner").get(f"/api/v1/exports/{export_id}/download").status_code == 410
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert expire_exports(sess, sess.get(Tenant, team.clinic.id)) == 1
    assert raw("SELECT bundle_enc IS NULL, status FROM record_exports WHERE id = %s", (export_id,))[
        0
    ] == (True, "expired")


def test_erasure_destroys_identity_and_clinical_data_keeps_statistics(team, raw):
    """Erase.

    Nothing personal or clinical is left; visits remain as anonymous statistics; the erasure itself
    is audited; refused for receptionists and other clinics.
    """
    p, v = _full_record(team)
    owner = team.api("owner")
    team.api("receptionist").post(
        f"/api/v1/patients/{p['id']}/consents",
        json={"purpose": "treatment", "text_version": "v1", "channel": "paper"},
    )
    body = {"confirm_name": "Maya Krishnan", "reason": "patient_request", "reference": "REQ-42"}
    assert (
        team.api("receptionist").post(f"/api/v1/patients/{p['id']}/erasure", json=body).status_code
        == 403
    )
    assert (
        team.api("other").post(f"/api/v1/patients/{p['id']}/erasure", json=body).status_code == 404
    )
    wrong = owner.post(f"/api/v1/patients/{p['id']}/erasure", json={**body, "confirm_name": "Maya"})
    assert wrong.status_code == 422 and "confirm_name" in wrong.get_json()["errors"]["json"]

    done = owner.post(f"/api/v1/patients/{p['id']}/erasure", json=body)
    assert done.status_code == 200, done.get_json()
    removed = done.get_json()["removed"]
    assert (
        removed["case_notes"] == 1 and removed["prescriptions"] == 1 and removed["attachments"] == 1
    )
    assert removed["consents"] == 1 and removed["visits_anonymised"] == 1

    assert scan(raw, team.clinic.id, SECRETS + [p["email"], "Maya Krishnan"]) == {}
    row = raw(
        "SELECT full_name, status, email_index, email_enc, phone_enc, erased_at IS NOT NULL "
        "FROM patients WHERE id = %s",
        (p["id"],),
    )[0]
    assert row == ("Erased patient", "erased", None, None, None, True)
    assert raw(
        "SELECT kind, visit_date::text, practitioner_id IS NOT NULL FROM clinical_visits "
        "WHERE patient_id = %s",
        (p["id"],),
    ) == [("initial", "2026-01-15", True)]
    audit = raw(
        "SELECT actor_label, data FROM audit_log WHERE tenant_id = %s AND action = 'patient.erased'",
        (team.clinic.id,),
    )
    # the request's reference is free text: the log keeps only its SHA-256
    assert audit[0][0] == team.clinic.owner_email and "reference" not in audit[0][1]
    assert audit[0][1]["reference_sha256"] == hashlib.sha256(b"REQ-42").hexdigest()

    assert owner.get(f"/api/v1/patients/{p['id']}").status_code == 404
    assert owner.get(f"/api/v1/visits/{v['id']}").status_code == 404
    assert owner.get("/api/v1/patients?q=maya").get_json() == []
    new_patient(owner, email=p["email"])  # the address can register again: no blind index left


def test_retention_erases_inactive_patients_only(app, team, raw):
    """With a retention of 2 years, a patient last seen 3 years ago is erased; a recent one stays."""
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.records.gdpr import apply_retention

    owner = team.api("owner")
    assert owner.put("/api/v1/records/settings", json={"retention_years": 0}).status_code == 422
    assert (
        owner.put("/api/v1/records/settings", json={"retention_years": 2}).get_json()[
            "retention_years"
        ]
        == 2
    )
    old, recent = (
        new_patient(owner, full_name="Old Case"),
        new_patient(owner, full_name="Recent Case"),
    )
    new_visit(team.api(), old["id"], visit_date="2023-01-10")
    new_visit(team.api(), recent["id"], visit_date="2023-01-10")
    new_visit(team.api(), recent["id"], visit_date="2026-01-10")
    raw(
        "UPDATE patients SET created_at = now() - interval '4 years' WHERE tenant_id = %s RETURNING id",
        (team.clinic.id,),
    )
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert apply_retention(sess, sess.get(Tenant, team.clinic.id)) == 1
    statuses = dict(
        raw("SELECT id::text, status FROM patients WHERE tenant_id = %s", (team.clinic.id,))
    )
    assert statuses == {old["id"]: "erased", recent["id"]: "active"}
    audit = raw(
        "SELECT actor_label, data FROM audit_log WHERE tenant_id = %s AND action = 'patient.erased'",
        (team.clinic.id,),
    )
    assert audit == [
        (
            "system",
            {
                "reason": "retention",
                "reference_sha256": hashlib.sha256(b"2y").hexdigest(),
                "removed": audit[0][1]["removed"],
            },
        )
    ]


def test_concurrent_downloads_of_one_export_yield_exactly_one_bundle(team, worker):
    """Two simultaneous downloads: one gets the zip, the other 410 (atomic claim)."""
    import threading

    p = new_patient(team.api())
    owner = team.api("owner")
    export_id = owner.post(f"/api/v1/patients/{p['id']}/exports").get_json()["id"]
    drain(worker, "records")
    assert owner.get(f"/api/v1/exports/{export_id}").get_json()["status"] == "ready"
    from .conftest import Api

    clients = [Api(team.app, team.clinic, team.owner.token) for _ in range(2)]
    statuses, barrier = [], threading.Barrier(2)

    def download(api):
        barrier.wait()
        statuses.append(api.get(f"/api/v1/exports/{export_id}/download").status_code)

    threads = [threading.Thread(target=download, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 410]


def test_a_closing_clinics_owner_still_gets_patient_exports(app, team, worker, owner_dsn):
    """During the grace period the export the closing page offers is really assembled."""
    import psycopg

    from tests.admin.clinic.console import Console

    p, _ = _full_record(team)
    owner = Console(app, team.clinic, "owner")
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE tenants SET status = 'closing', delete_after = now() + interval '30 days' "
            "WHERE id = %s",
            (team.clinic.id,),
        )
    page = f"/console/patients/{p['id']}"
    r = owner.post(f"/console/patients/{p['id']}/export", {}, form_page=page)
    assert r.status_code == 302, r.get_data(as_text=True)
    drain(worker, "records")
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT status FROM record_exports WHERE tenant_id = %s", (team.clinic.id,)
        ).fetchall()
    assert rows == [("ready",)]
