"""Encryption against the real OpenBao.

No plaintext at rest, ciphertext bound to its row and clinic, Vault outage answers 503 without
writing anything, warm reads make no Vault call.
"""

from __future__ import annotations

import io
import uuid

import hvac
import pytest

from .conftest import CASE, new_patient, new_visit

SECRETS = [
    "Weeps when alone",
    "Craves salt",
    "right temple",
    "Natrum muriaticum",
    "Avoid coffee",
    "Latex",
    "hives",
    "7946 0958",
    "1984-03-09",
    "Orchard Lane",
    "Ravi Krishnan",
    "Grief after loss",
    "MRI-LEFT-KNEE",
    "Summary for Maya",
]


def _tenant_tables(raw):
    return [
        r[0]
        for r in raw(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
        )
    ]


def scan(raw, tenant_id, needles) -> dict[str, list[str]]:
    """Every stored value of every tenant table (and the tenant row), searched for needles."""
    found: dict[str, list[str]] = {}
    for table in _tenant_tables(raw) + ["tenants"]:
        col = "id" if table == "tenants" else "tenant_id"
        for row in raw(f"SELECT * FROM {table} WHERE {col} = %s", (tenant_id,)):
            for value in row:
                data = (
                    bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                )
                for needle in needles:
                    if needle.encode() in data:
                        found.setdefault(needle, []).append(table)
    return found


def _full_record(team):
    doc = team.api()
    p = new_patient(team.api("receptionist"), full_name="Maya Krishnan")
    v = new_visit(doc, p["id"], note={**CASE, "past_history": "Grief after loss"})
    doc.post(
        f"/api/v1/visits/{v['id']}/prescriptions",
        json={"remedy": "Natrum muriaticum", "potency": "200C", "instructions": "Avoid coffee"},
    )
    doc.post(
        f"/api/v1/patients/{p['id']}/facts",
        json={"kind": "allergy", "name": "Latex", "details": "hives"},
    )
    doc.post(
        f"/api/v1/patients/{p['id']}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 MRI-LEFT-KNEE"), "mri.pdf")},
        content_type="multipart/form-data",
    )
    doc.post(f"/api/v1/visits/{v['id']}/sign")
    doc.put(
        f"/api/v1/visits/{v['id']}/sharing",
        json={"shared_with_patient": True, "patient_summary": "Summary for Maya"},
    )
    doc.get(f"/api/v1/patients/{p['id']}/record")
    return p, v


def test_raw_rows_hold_no_plaintext(team, raw):
    """Scan every tenant table: no clinical or contact value is stored in clear anywhere."""
    p, _ = _full_record(team)
    assert scan(raw, team.clinic.id, ["Maya Krishnan"]) != {}  # the scan does see clear text
    found = scan(raw, team.clinic.id, SECRETS + [p["email"]])
    assert found == {}


def test_ciphertext_moved_to_another_row_or_clinic_fails(app, team, raw):
    """AES-GCM associated data binds tenant, table, column and row."""
    from saas.crypto import DecryptionError
    from saas.db import tenant_session
    from saas.fields import open_field

    doc = team.api()
    p = new_patient(doc)
    v1, v2 = new_visit(doc, p["id"]), new_visit(doc, p["id"], note={"observations": "second"})
    (n1,), (n2,) = (
        raw("SELECT id, body_enc FROM case_notes WHERE visit_id = %s", (v["id"],)) for v in (v1, v2)
    )
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert "Weeps" in open_field(sess, team.clinic.id, "case_notes", "body", n1[0], n1[1])
        with pytest.raises(DecryptionError):
            open_field(sess, team.clinic.id, "case_notes", "body", n2[0], n1[1])
        with pytest.raises(DecryptionError):
            open_field(sess, team.clinic.id, "case_notes", "reason", n1[0], n1[1])
    with app.app_context(), tenant_session(team.other.id) as sess:
        with pytest.raises(DecryptionError):
            open_field(sess, team.other.id, "case_notes", "body", n1[0], n1[1])
    # through the API: a note body swapped into another row is refused, nothing leaks
    raw("UPDATE case_notes SET body_enc = %s WHERE id = %s RETURNING id", (n1[1], n2[0]))
    resp = doc.get(f"/api/v1/visits/{v2['id']}")
    assert resp.status_code == 500
    assert "Weeps" not in resp.get_data(as_text=True)
    assert "integrity" in resp.get_json()["message"]


def test_vault_down_gives_503_and_writes_nothing(app, team, services, raw):
    """With Vault stopped and the key cache empty, encrypted reads and writes answer 503 and no row is written (in clear or otherwise).

    Everything works again when Vault returns.
    """
    svc, _ = services
    keys = app.extensions["similia.keys"]
    doc = team.api()
    p = new_patient(doc)
    v = new_visit(doc, p["id"])
    count = "SELECT (SELECT count(*) FROM case_notes WHERE tenant_id = %s) + (SELECT count(*) FROM patients WHERE tenant_id = %s)"
    before = raw(count, (team.clinic.id, team.clinic.id))[0][0]
    keys.forget()
    svc.stop_vault()
    try:
        read = doc.get(f"/api/v1/visits/{v['id']}")
        assert read.status_code == 503
        assert "temporarily unavailable" in read.get_json()["message"]
        assert doc.get(f"/api/v1/patients/{p['id']}").status_code == 503
        write = doc.put(
            f"/api/v1/visits/{v['id']}/note", json={"sections": {"plan": "Unsent plan"}}
        )
        assert write.status_code == 503
        created = doc.post(
            "/api/v1/patients", json={"full_name": "Nobody", "phone": "+44 1632 960001"}
        )
        assert created.status_code == 503
        assert raw(count, (team.clinic.id, team.clinic.id))[0][0] == before
        assert scan(raw, team.clinic.id, ["Unsent plan", "1632 960001"]) == {}
    finally:
        svc.start_vault()
    assert doc.get(f"/api/v1/visits/{v['id']}").status_code == 200
    assert (
        doc.put(f"/api/v1/visits/{v['id']}/note", json={"sections": {"plan": "Sent"}}).status_code
        == 201
    )


def test_encrypting_to_a_missing_key_never_creates_it(app, team):
    """A mistyped or deleted tenant key is an error, never a new key (runtime or admin token)."""
    from saas.crypto import TenantKeyMissing

    keys = app.extensions["similia.keys"]
    ghost = uuid.uuid4()
    for client in (keys._runtime, keys._admin):
        with pytest.raises(hvac.exceptions.VaultError):
            client.secrets.transit.encrypt_data(name=f"tenant-{ghost}", plaintext="aGVsbG8=")
    with pytest.raises(TenantKeyMissing):
        keys.new_wrapped_dek(ghost)
    with pytest.raises(TenantKeyMissing):
        keys.key_info(ghost)
    with pytest.raises(hvac.exceptions.Forbidden):  # the runtime token cannot create keys at all
        keys._runtime.secrets.transit.create_key(name=f"tenant-{ghost}")


def test_warm_page_of_50_makes_no_vault_call(app, team):
    """A page of 50 encrypted patients: one unwrap when cold, zero Vault calls when warm."""
    desk = team.api("receptionist")
    for i in range(50):
        new_patient(desk, full_name=f"Patient {i:02d}")
    keys = app.extensions["similia.keys"]
    keys.forget()
    calls = keys.vault_calls
    page = desk.get("/api/v1/patients?page_size=50")
    assert page.status_code == 200 and len(page.get_json()) == 50
    assert all(p["phone"] == "+44 20 7946 0958" for p in page.get_json())
    assert keys.vault_calls - calls == 1
    calls = keys.vault_calls
    assert len(desk.get("/api/v1/patients?page_size=50").get_json()) == 50
    assert keys.vault_calls == calls


def test_runtime_token_cannot_manage_keys(app, team):
    """The app's runtime token (policy runtime.hcl, not root) cannot rotate, reconfigure or delete a clinic key.

    Only the key-admin token can.
    """
    keys = app.extensions["similia.keys"]
    name = f"tenant-{team.clinic.id}"
    runtime = keys._runtime.secrets.transit
    for call in (
        lambda: runtime.rotate_key(name=name),
        lambda: runtime.update_key_configuration(name=name, deletion_allowed=True),
        lambda: runtime.delete_key(name=name),
        lambda: keys._runtime.sys.list_mounted_secrets_engines(),
    ):
        with pytest.raises(hvac.exceptions.Forbidden):
            call()
    assert keys.key_info(team.clinic.id)["latest_version"] == 1
