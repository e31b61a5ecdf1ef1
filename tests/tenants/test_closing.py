"""Closing a clinic: the owner (or an operator admin) starts a grace period; then it is gone.

- The owner asks in the console with password and a fresh code; the portal goes offline,
  the console stays readable (export offered) and refuses changes; the owner can cancel.
- An operator admin closes a clinic whose contract ended (tests/admin/platform/test_closing.py).
- ``saas tenants purge-due`` deletes the clinics whose grace has ended (database clock):
  no row of the clinic remains in any table with a ``tenant_id`` (walking the catalog),
  its key is destroyed so its old ciphertext cannot be opened, the other clinic is intact,
  and the platform audit log keeps the fact.
"""

from __future__ import annotations

import time

import hvac
import psycopg
import pyotp
import pytest

from tests.admin.clinic.console import Console
from tests.factories import PASSWORD, PatientFactory, StaffFactory
from tests.records.conftest import new_patient, new_visit
from tests.saas.test_isolation import CATALOG_QUERY


def _sql(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        return conn.execute(query, params).fetchall()


def _status(owner_dsn, clinic) -> str:
    return _sql(owner_dsn, "SELECT status FROM tenants WHERE id = %s", (clinic.id,))[0][0]


def _close_as_owner(owner: Console, password: str = PASSWORD, code: str | None = None):
    return owner.post(
        "/console/closing",
        {
            "reason": "Retiring",
            "password": password,
            # the sign-in used this time step's code; a code works once: take the next step's
            "code": code or pyotp.TOTP(owner.secret).at(time.time() + 30),
        },
        form_page="/console/closing",
    )


def test_owner_closes_with_password_and_code_then_cancels(app, make_clinic, owner_dsn, client):
    """Grace period: portal offline, console read-only with the export offered; cancel."""
    clinic, other = make_clinic(), make_clinic()
    PatientFactory(clinic=clinic)
    owner = Console(app, clinic, "owner")
    assert Console(app, clinic, "admin").get("/console/closing").status_code == 403

    r = _close_as_owner(owner, password="wrong-password-123", code="000000")
    assert r.status_code == 422 and "That password is not right." in r.get_data(as_text=True)
    assert _status(owner_dsn, clinic) == "trialing"  # signup starts the free trial
    r = _close_as_owner(owner)
    assert r.status_code == 302 and _status(owner_dsn, clinic) == "closing"
    ((grace,),) = _sql(
        owner_dsn, "SELECT delete_after - now() FROM tenants WHERE id = %s", (clinic.id,)
    )
    assert 29 < grace.total_seconds() / 86400 <= 30
    assert _status(owner_dsn, other) == "trialing"

    portal = client.get("/", base_url=f"http://{clinic.host}")
    assert portal.status_code == 403 and b"is closing" in portal.data
    assert client.get("/", base_url=f"http://{other.host}").status_code == 200
    dash = owner.get("/console/")
    assert dash.status_code == 200 and b"data-closing" in dash.data
    assert b"Export what you need" in dash.data
    assert owner.get("/brand.css").status_code == 200  # the console keeps its look
    assert owner.get("/console/audit.csv").status_code == 200  # the log can be exported
    refused = owner.post(
        "/console/staff", {"email": "x@example.org", "name": "X", "role": "receptionist"}
    )
    assert refused.status_code == 403
    (patients,) = _sql(
        owner_dsn, "SELECT count(*) FROM patients WHERE tenant_id = %s", (clinic.id,)
    )[0]
    assert patients == 1  # nothing deleted during the grace period

    r = owner.post("/console/closing/cancel", {}, form_page="/console/closing")
    # back in its trial, which has time left
    assert r.status_code == 302 and _status(owner_dsn, clinic) == "trialing"
    assert client.get("/", base_url=f"http://{clinic.host}").status_code == 200
    actions = [
        a
        for (a,) in _sql(
            owner_dsn,
            "SELECT action FROM platform_audit_log WHERE clinic_id = %s ORDER BY seq",
            (clinic.id,),
        )
    ]
    assert actions == ["tenant.deletion_requested", "tenant.deletion_cancelled"]


def _purge(app) -> str:
    from saas.cli import main

    result = app.test_cli_runner().invoke(main, ["tenants", "purge-due"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _rows_of(owner_dsn, tenant_id) -> dict[str, int]:
    """Rows of this clinic in every table with a tenant_id column (walking the catalog)."""
    out = {}
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        for table, *_rest in conn.execute(CATALOG_QUERY).fetchall():
            (n,) = conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', (tenant_id,)
            ).fetchone()
            if n:
                out[table] = n
    return out


def test_purge_after_grace_leaves_no_row_and_no_key(app, make_clinic, owner_dsn):
    """After the grace period every row of the clinic is gone and its ciphertext unreadable."""
    clinic, other = make_clinic(), make_clinic()
    owner = Console(app, clinic, "owner")
    for c in (clinic, other):
        api = StaffFactory(clinic=c, role="practitioner").signed_in().api()
        patient = new_patient(api)
        new_visit(api, patient["id"])
    assert {"patients", "case_notes", "users", "audit_log"} <= set(_rows_of(owner_dsn, clinic.id))
    ((note_body,),) = _sql(
        owner_dsn, "SELECT body_enc FROM case_notes WHERE tenant_id = %s LIMIT 1", (clinic.id,)
    )
    ((wrapped,),) = _sql(
        owner_dsn, "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s", (clinic.id,)
    )
    other_rows = _rows_of(owner_dsn, other.id)
    assert _close_as_owner(owner).status_code == 302

    assert "0 clinic(s) due." in _purge(app)  # the grace period is running: nothing happens
    assert _status(owner_dsn, clinic) == "closing" and _rows_of(owner_dsn, clinic.id)

    with psycopg.connect(owner_dsn) as conn:  # 30 days pass, by the database clock
        conn.execute(
            "UPDATE tenants SET delete_after = now() - interval '1 second' WHERE id = %s",
            (clinic.id,),
        )
    out = _purge(app)
    assert f"Clinic {clinic.slug} deleted" in out and "1 clinic(s) due." in out
    assert _rows_of(owner_dsn, clinic.id) == {}
    assert _rows_of(owner_dsn, other.id) == other_rows  # the other clinic is untouched
    ((status, settings, domain),) = _sql(
        owner_dsn, "SELECT status, settings, custom_domain FROM tenants WHERE id = %s", (clinic.id,)
    )
    assert (status, settings, domain) == ("deleted", {}, None)
    assert not _sql(owner_dsn, "SELECT 1 FROM clinic_usage WHERE clinic_id = %s", (clinic.id,))

    keys = app.extensions["similia.keys"]
    with pytest.raises(hvac.exceptions.VaultError):  # the data key cannot be unwrapped
        keys._admin.secrets.transit.decrypt_data(name=f"tenant-{clinic.id}", ciphertext=wrapped)
    from saas.crypto import TenantKeyMissing

    keys.forget()
    with pytest.raises(TenantKeyMissing):
        keys.unwrap(clinic.id, wrapped)
    assert note_body  # the old ciphertext existed; without the key it is noise

    facts = _sql(
        owner_dsn,
        "SELECT action, data FROM platform_audit_log WHERE clinic_id = %s ORDER BY seq",
        (clinic.id,),
    )
    assert [a for a, _ in facts] == ["tenant.deletion_requested", "tenant.purged"]
    assert facts[-1][1]["crypto_shredded"] is True and facts[-1][1]["rows_removed"] > 0
    assert "0 clinic(s) due." in _purge(app)  # nothing left to do
