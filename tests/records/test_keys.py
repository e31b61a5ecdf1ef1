"""Key management against the real OpenBao.

Data-key rotation with resumable re-encryption, transit rotation + rewrap with
min_decryption_version, status, and crypto-shredding.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest

from tests.helpers import drain

from .conftest import new_patient, new_visit


def _cli(app, *args):
    from saas.cli import main

    result = app.test_cli_runner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _versions(raw, tenant_id):
    """Data-key version of every sealed value the clinic has, per table.column."""
    from saas.records.keys import _version_sql
    from saas.records.sealing import SEALED_COLUMNS

    out = {}
    for table, col, _ in SEALED_COLUMNS:
        for (v,) in raw(
            f"SELECT {_version_sql(col)} FROM {table} WHERE tenant_id = %s AND {col} IS NOT NULL",
            (tenant_id,),
        ):
            out.setdefault(f"{table}.{col}", set()).add(v)
    return out


def _data(team):
    doc = team.api()
    patients = [new_patient(team.api("receptionist"), full_name=f"Rota {i}") for i in range(4)]
    visits = [new_visit(doc, p["id"]) for p in patients]
    doc.post(
        f"/api/v1/visits/{visits[0]['id']}/prescriptions",
        json={"remedy": "Sulphur", "potency": "30C"},
    )
    doc.post(
        f"/api/v1/patients/{patients[0]['id']}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 scan"), "scan.pdf")},
        content_type="multipart/form-data",
    )
    return patients, visits


def test_rotation_reencrypts_everything_resumably_and_all_stays_readable(app, team, raw, worker):
    """Rotate.

    New writes use v2 at once; batches resume where they stopped; afterwards every sealed value is
    v2 and every record reads back the same, cold cache included.
    """
    from saas.records.keys import reencrypt_all
    from workers.records import reencrypt_tenant

    patients, visits = _data(team)
    doc = team.api()
    before = {
        v["id"]: doc.get(f"/api/v1/visits/{v['id']}").get_json()["note"]["sections"] for v in visits
    }
    assert set().union(*_versions(raw, team.clinic.id).values()) == {1}

    app.extensions["similia.keys"].forget()
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.records.keys import remaining, rotate_data_key

    with app.app_context(), tenant_session(team.clinic.id) as sess:
        tenant = sess.get(Tenant, team.clinic.id)
        rotate_data_key(sess, app.extensions["similia.keys"], tenant)
        total = sum(remaining(sess, tenant).values())
    assert total > 20
    fresh = new_patient(doc, full_name="After Rotation")
    (blob,) = raw("SELECT phone_enc FROM patients WHERE id = %s", (fresh["id"],))[0]
    assert int.from_bytes(bytes(blob)[1:5], "big") == 2

    with app.app_context():
        assert reencrypt_all(team.clinic.id, batch_size=5, max_batches=2) == 10  # stopped midway
    mixed = set().union(*_versions(raw, team.clinic.id).values())
    assert mixed == {1, 2}
    reencrypt_tenant.send(str(team.clinic.id), 7)  # the worker resumes and finishes
    drain(worker, "records")
    assert set().union(*_versions(raw, team.clinic.id).values()) == {2}

    app.extensions["similia.keys"].forget()
    after = {
        v["id"]: doc.get(f"/api/v1/visits/{v['id']}").get_json()["note"]["sections"] for v in visits
    }
    assert after == before
    assert (
        team.api("receptionist")
        .get(f"/api/v1/patients?email={patients[1]['email']}")
        .get_json()[0]["id"]
        == patients[1]["id"]
    )  # blind index still valid
    status = json.loads(_cli(app, "keys", "status", "--tenant", team.clinic.slug, "--json"))[0]
    assert status["data_key_version"] == 2 and status["rows_on_old_data_keys"] == {}
    assert status["jobs"][0]["status"] == "done" and status["jobs"][0]["rows_done"] == total
    other = _versions(raw, team.other.id)
    assert set().union(*other.values()) == {1}  # the other clinic is untouched


def test_cli_rotate_wait_and_rewrap_raises_min_decryption_version(app, team, raw):
    """``keys rotate --wait`` then ``keys rewrap``.

    Data keys move to transit v2, v1 ciphertext is refused afterwards, and records still read (cold
    cache); the other clinic is untouched.
    """
    from saas.crypto import KeyServiceUnavailable

    keys = app.extensions["similia.keys"]
    _data(team)
    out = _cli(app, "keys", "rotate", "--tenant", team.clinic.slug, "--wait", "--batch-size", "10")
    assert "re-encryption done" in out
    assert set().union(*_versions(raw, team.clinic.id).values()) == {2}

    old_wrapped = [
        w
        for (w,) in raw(
            "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s ORDER BY version",
            (team.clinic.id,),
        )
    ]
    assert all(w.startswith("vault:v1:") for w in old_wrapped)
    out = _cli(app, "keys", "rewrap", "--tenant", team.clinic.slug)
    assert "min_decryption_version=2" in out
    new_wrapped = [
        w
        for (w,) in raw(
            "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s ORDER BY version",
            (team.clinic.id,),
        )
    ]
    assert all(w.startswith("vault:v2:") for w in new_wrapped)
    info = keys.key_info(team.clinic.id)
    assert (info["latest_version"], info["min_decryption_version"]) == (2, 2)
    with pytest.raises(KeyServiceUnavailable):
        keys.unwrap(team.clinic.id, old_wrapped[0])  # v1 transit ciphertext is refused now
    assert keys.unwrap(team.clinic.id, new_wrapped[0])

    keys.forget()
    record = team.api().get("/api/v1/patients?q=Rota").get_json()
    assert len(record) == 4 and record[0]["phone"]
    assert keys.key_info(team.other.id)["latest_version"] == 1
    status = _cli(app, "keys", "status", "--tenant", team.clinic.slug)
    assert "transit v2 (min decrypt v2), data key v2, 0 values on older data keys" in status


def test_crypto_shredding(app, team, raw):
    """Deleting a clinic hard-deletes its transit key.

    Its ciphertexts stay in Postgres but can never be opened again (no soft-delete restore either);
    the other clinic is unaffected.
    """
    from saas.crypto import TenantKeyMissing
    from saas.db import tenant_session
    from saas.fields import open_field

    keys = app.extensions["similia.keys"]
    p = new_patient(team.api())
    v = new_visit(team.api(), p["id"])
    q = new_patient(team.api("other"), full_name="Other Clinic Patient")
    ((note_id, body),) = raw("SELECT id, body_enc FROM case_notes WHERE visit_id = %s", (v["id"],))
    ((wrapped,),) = raw(
        "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s", (team.clinic.id,)
    )

    out = _cli(app, "tenants", "delete", team.clinic.slug, "--yes")
    assert "destroyed" in out
    assert raw("SELECT status FROM tenants WHERE id = %s", (team.clinic.id,))[0][0] == "deleted"
    assert raw("SELECT count(*) FROM case_notes WHERE tenant_id = %s", (team.clinic.id,))[0][0] == 1

    keys.forget()
    with pytest.raises(TenantKeyMissing):
        keys.unwrap(team.clinic.id, wrapped)
    with pytest.raises(TenantKeyMissing):
        keys.key_info(team.clinic.id)
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        with pytest.raises(TenantKeyMissing):
            open_field(sess, team.clinic.id, "case_notes", "body", note_id, body)
    import hvac

    try:  # a soft-deleted key could be restored; a hard-deleted one cannot
        keys._admin.write_data(f"transit/keys/tenant-{team.clinic.id}/soft-delete-restore")
    except hvac.exceptions.VaultError:
        pass
    with pytest.raises(TenantKeyMissing):
        keys.key_info(team.clinic.id)
    assert keys.key_info(team.other.id)["latest_version"] == 1
    with pytest.raises(hvac.exceptions.VaultError):
        keys._admin.secrets.transit.decrypt_data(
            name=f"tenant-{team.clinic.id}", ciphertext=wrapped
        )
    assert team.api().get(f"/api/v1/patients/{p['id']}").status_code == 403  # clinic unavailable
    assert (
        team.api("other").get(f"/api/v1/patients/{q['id']}").get_json()["full_name"]
        == "Other Clinic Patient"
    )
    assert (
        team.api("other").get(f"/api/v1/patients/{q['id']}").get_json()["phone"]
        == "+44 20 7946 0958"
    )
    assert _cli(app, "tenants", "delete", team.clinic.slug, "--yes")  # idempotent
    assert uuid.UUID(str(team.other.id))


def test_cli_rotate_hands_reencryption_to_the_worker(app, team, raw, worker):
    """Without --wait the command queues the job; the worker finishes it."""
    _data(team)
    out = _cli(app, "keys", "rotate", "--tenant", team.clinic.slug)
    assert "Re-encryption queued" in out
    drain(worker, "records")
    assert set().union(*_versions(raw, team.clinic.id).values()) == {2}
    from saas.cli import main

    unknown = app.test_cli_runner().invoke(main, ["keys", "rotate", "--tenant", "nope"])
    assert unknown.exit_code != 0 and "No clinic 'nope'" in unknown.output
