"""Operators provably cannot read clinical data: not by role, not through Vault, not by page.

- The catalog: the operator role (``similia_ops``) has no SELECT on any clinic table except
  a few named columns of non-clinical ones, none of them sealed; it cannot bypass RLS.
- Postgres refuses it a clinical table outright.
- Vault refuses the operator token a clinic's key (the runtime token, for contrast, works).
- A marker written into a case note and a patient's name reaches no /ops response.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.admin.platform.conftest import PLATFORM
from tests.factories import PatientFactory, StaffFactory
from tests.records.conftest import new_patient, new_visit

OPS_ROLE = "similia_ops"
#: The only columns of clinic (tenant_id) tables the operator role may read, and why.
ALLOWED_COLUMNS = {
    "users": {"tenant_id", "id", "email", "name", "role", "is_active"},  # reach the owner
    "audit_log": {"tenant_id", "seq", "hash"},  # append to the clinic's chain (audit_head)
    "schedule_versions": {"tenant_id", "config", "bookings"},  # bind_clinic()
    # message states under the owner's support grant (restrictive policy), never payload
    "outbox": {
        "tenant_id",
        "id",
        "topic",
        "state",
        "attempts",
        "created_at",
        "dispatched_at",
        "next_attempt_at",
        "skip_reason",
    },
    # resend an owner's invitation
    "invitations": {"tenant_id", "id", "email", "name", "role", "expires_at", "accepted_at"},
    # the owner's consent itself
    "support_grants": {
        "tenant_id",
        "id",
        "granted_by",
        "hours",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
    },
}


@pytest.fixture
def ops_dsn(app):
    """Psycopg DSN of the operator console's role."""
    url = make_url(app.config["SIMILIA"].ops_database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tenant_tables(conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' "
            "AND t.table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
    ]


def readable_columns(conn, role: str, table: str) -> set[str]:
    """Columns of ``table`` that ``role`` may SELECT (table or column grant)."""
    return {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND has_column_privilege(%s, attrelid, attnum, 'SELECT')",
            (table, role),
        ).fetchall()
    }


def blindness_problems(conn, role: str, allowed: dict[str, set[str]]) -> list[str]:
    """What ``role`` could read of clinic data beyond ``allowed``, as sentences."""
    from saas.models.registry import sealed_columns

    problems = []
    attrs = conn.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
    ).fetchone()
    if attrs is None or any(attrs):
        problems.append(f"{role} is missing, a superuser or bypasses RLS")
    for table in _tenant_tables(conn):
        extra = readable_columns(conn, role, table) - allowed.get(table, set())
        if extra:
            problems.append(f"{role} may read {table}: {sorted(extra)}")
    for sealed in sealed_columns():
        if sealed.column in readable_columns(conn, role, sealed.table):
            problems.append(f"{role} may read sealed {sealed.table}.{sealed.column}")
    return problems


def test_operator_role_reads_no_clinical_table_or_sealed_column(owner_dsn):
    """The catalog: nothing clinical, no sealed column, no RLS bypass for similia_ops."""
    with psycopg.connect(owner_dsn) as conn:
        tables = _tenant_tables(conn)
        assert {"patients", "case_notes", "appointments", "prescriptions"} <= set(tables)
        assert blindness_problems(conn, OPS_ROLE, ALLOWED_COLUMNS) == []
        # the guard itself can fail: the runtime role reads clinical tables
        problems = blindness_problems(conn, "similia_app", ALLOWED_COLUMNS)
        assert any("case_notes" in p for p in problems)
        assert any("sealed patients." in p for p in problems)


def test_postgres_refuses_the_operator_role_a_clinical_table(app, ops_dsn, make_clinic):
    """Even with a clinic bound, SELECT on case notes or patients is refused."""
    clinic = make_clinic()
    PatientFactory(clinic=clinic)
    with psycopg.connect(ops_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (OPS_ROLE,)
        for sql in (
            "SELECT * FROM case_notes",
            "SELECT full_name FROM patients",
            "SELECT wrapped FROM tenant_data_keys",
            "SELECT totp_secret FROM users",
            "SELECT data FROM audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(clinic.id),))
                conn.execute(sql)
        # what it may read: the numbers the usage job counted
        from admin.platform.usage import refresh_usage

        with app.app_context():
            refresh_usage([clinic.id])
        (patients,) = conn.execute(
            "SELECT patients FROM clinic_usage WHERE clinic_id = %s", (clinic.id,)
        ).fetchone()
        assert patients == 1


def test_vault_refuses_the_operator_token_a_clinic_key(app, make_clinic, owner_dsn):
    """The operator's token cannot unwrap a clinic's data key; the runtime token can."""
    import hvac
    import hvac.exceptions

    from saas.crypto import KeyServiceUnavailable

    clinic = make_clinic()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        (wrapped,) = conn.execute(
            "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s AND version = 1",
            (clinic.id,),
        ).fetchone()
    cfg = app.config["SIMILIA"]
    assert cfg.vault_operator_token, "the test environment names an operator token"
    vault = hvac.Client(url=cfg.vault_addr, token=cfg.vault_operator_token)
    from saas.devservices import POLICY_DIR

    policy = (POLICY_DIR / "operator.hcl").read_text().splitlines()
    assert not [line for line in policy if "transit" in line and not line.startswith("#")]
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.secrets.transit.decrypt_data(name=f"tenant-{clinic.id}", ciphertext=wrapped)
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.secrets.transit.read_key(name=f"tenant-{clinic.id}")
    # the operator console's key service (the one its requests use) is refused likewise
    with app.app_context():
        ops_keys = app.extensions["similia.ops_keys"]
        with pytest.raises(KeyServiceUnavailable, match="refused"):
            ops_keys.data_key(clinic.id, 1, lambda: wrapped)
        # and the runtime key service opens the very same data key
        assert len(app.extensions["similia.keys"].data_key(clinic.id, 1, lambda: wrapped)) == 32


def test_ops_requests_run_as_the_operator_role_with_the_operator_keys(app, ops):
    """Inside an /ops request the session's connection is similia_ops and keys are blind."""
    from flask import g
    from sqlalchemy import text

    from saas import db
    from saas.fields import key_service

    with app.test_request_context("/ops/tenants", base_url=PLATFORM):
        app.preprocess_request()
        try:
            assert db.session.execute(text("SELECT current_user")).scalar() == OPS_ROLE
            assert key_service() is app.extensions["similia.ops_keys"] is g.similia_keys
        finally:
            db.session.rollback()
            db.session.remove()


MARKER = "ZZ-CLINICAL-MARKER-7731"


def test_no_clinical_byte_reaches_any_ops_page(app, ops, make_clinic):
    """A case note's marker and a patient's name appear in no /ops response.

    Every GET page of the console, searches for the marker, and every action's answer.
    """
    clinic = make_clinic()
    practitioner = StaffFactory(clinic=clinic, role="practitioner").signed_in()
    api = practitioner.api()
    patient = new_patient(api, full_name=f"Patient {MARKER}")
    new_visit(
        api,
        patient["id"],
        note={"mentals": f"Weeps when alone {MARKER}", "generals": MARKER, "observations": MARKER},
    )
    seen: dict[str, str] = {}

    def visit(path, resp):
        assert resp.status_code < 500, (path, resp.status_code)
        seen[path] = resp.get_data(as_text=True)

    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/ops")]
    assert len(rules) >= 6
    for rule in rules:
        if "GET" not in rule.methods:
            continue
        path = rule.rule.replace("<uuid:tenant_id>", str(clinic.id))
        if "<" in path:
            continue
        visit(path, ops.get(path, follow_redirects=True))
    for query in (MARKER, "Patient", clinic.slug):
        path = f"/ops/tenants?q={query}"
        visit(path, ops.get(path))
    # searching for the marker finds nothing; the only copy is the operator's own query
    assert "0 clinics found." in seen[f"/ops/tenants?q={MARKER}"]
    seen[f"/ops/tenants?q={MARKER}"] = seen[f"/ops/tenants?q={MARKER}"].replace(
        f'value="{MARKER}"', ""
    )
    page = f"/ops/tenants/{clinic.id}"
    for action, data in (
        ("suspend", {"reason": "check"}),
        ("reactivate", {"reason": "check"}),
        ("trial", {"trial-days": "3", "trial-reason": "check"}),
    ):
        path = f"{page}/{action}"
        visit(path, ops.post(path, data, form_page=page, follow_redirects=True))
    assert f"/ops/tenants/{clinic.id}" in seen and "/ops/audit" in seen
    leaks = [path for path, body in seen.items() if MARKER in body]
    assert leaks == []
    # the scan can fail: the marker is really stored and readable by the clinic's staff
    visits = api.get(f"/api/v1/patients/{patient['id']}").get_data(as_text=True)
    assert MARKER in visits
