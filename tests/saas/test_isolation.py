"""Row-level security: the runtime role sees and writes only the bound clinic's rows."""

from __future__ import annotations

import uuid

import psycopg
import pytest

CATALOG_QUERY = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def tables_missing_rls(conn) -> list[str]:
    """Tenant tables without RLS enabled, forced and a policy."""
    return [
        name
        for name, enabled, forced, has_policy in conn.execute(CATALOG_QUERY).fetchall()
        if not (enabled and forced and has_policy)
    ]


def test_every_tenant_table_has_forced_rls_and_a_policy(owner_dsn):
    """Walk the catalog: no table with a tenant_id column escapes RLS."""
    with psycopg.connect(owner_dsn) as conn:
        tables = [row[0] for row in conn.execute(CATALOG_QUERY).fetchall()]
        assert {"users", "audit_log", "outbox", "patients"} <= set(tables)
        assert tables_missing_rls(conn) == []


EXPECTED_PREDICATE = "(tenant_id = ( SELECT (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid AS \"nullif\"))"


def test_every_policy_is_the_tenant_predicate_for_all_commands(owner_dsn):
    """Each tenant table has one permissive ALL policy: the tenant predicate.

    USING and WITH CHECK are both the predicate and tenant_id is NOT NULL, so a policy
    such as `USING (true)` fails here.
    """
    with psycopg.connect(owner_dsn) as conn:
        tables = [row[0] for row in conn.execute(CATALOG_QUERY).fetchall()]
        for table in tables:
            policies = conn.execute(
                "SELECT cmd, permissive, qual, with_check FROM pg_policies "
                "WHERE schemaname = 'public' AND tablename = %s",
                (table,),
            ).fetchall()
            assert policies == [("ALL", "PERMISSIVE", EXPECTED_PREDICATE, EXPECTED_PREDICATE)], (
                table
            )
            not_null = conn.execute(
                "SELECT a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relname = %s AND a.attname = 'tenant_id'",
                (table,),
            ).fetchone()[0]
            assert not_null, table


def test_foreign_keys_between_tenant_tables_include_tenant_id(owner_dsn):
    """A foreign key from one tenant table to another always carries tenant_id."""
    with psycopg.connect(owner_dsn) as conn:
        tenant_tables = {row[0] for row in conn.execute(CATALOG_QUERY).fetchall()}
        fks = conn.execute(
            "SELECT con.conname, src.relname, dst.relname, "
            "  ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = con.conrelid AND attnum = ANY(con.conkey)) "
            "FROM pg_constraint con JOIN pg_class src ON src.oid = con.conrelid "
            "JOIN pg_class dst ON dst.oid = con.confrelid WHERE con.contype = 'f'"
        ).fetchall()
    checked = 0
    for name, src, dst, cols in fks:
        if src in tenant_tables and dst in tenant_tables:
            assert "tenant_id" in cols, (name, src, dst, cols)
            checked += 1
    assert checked >= 5


def test_catalog_check_catches_a_table_without_rls(owner_dsn):
    """The catalog check fails for a new tenant table that lacks RLS (so it can fail)."""
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("CREATE TABLE rls_probe (tenant_id uuid NOT NULL, x int)")
        try:
            assert "rls_probe" in tables_missing_rls(conn)
            conn.execute("ALTER TABLE rls_probe ENABLE ROW LEVEL SECURITY")
            assert "rls_probe" in tables_missing_rls(conn)  # not forced, no policy
        finally:
            conn.rollback()


def test_no_views_without_security_invoker_and_no_definer_functions(owner_dsn):
    """Views run as the caller; no SECURITY DEFINER function exists in our schema."""
    with psycopg.connect(owner_dsn) as conn:
        views = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'v' "
            "AND NOT coalesce(c.reloptions::text[] @> ARRAY['security_invoker=true'], false)"
        ).fetchall()
        definers = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.prosecdef"
        ).fetchall()
    assert views == [] and definers == []


def test_runtime_role_cannot_bypass_rls(runtime_dsn):
    """The app's role is not a superuser, cannot bypass RLS and owns no table."""
    with psycopg.connect(runtime_dsn) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user"
        ).fetchone()[0]
    assert row == (False, False, False, False)
    assert owned == 0


def test_unbound_sees_nothing_and_cannot_insert(two_clinics, runtime_dsn):
    """With no clinic bound, tenant tables look empty and inserts fail."""
    (a, _), (b, _) = two_clinics
    with psycopg.connect(runtime_dsn) as conn:
        for table in ("users", "audit_log", "tenant_data_keys", "api_tokens"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO users (tenant_id, id, email, name, role, password_hash) "
                "VALUES (%s, %s, 'x@example.org', 'X', 'owner', 'h')",
                (a.id, uuid.uuid4()),
            )


def test_bound_sees_only_its_clinic_and_cannot_write_for_another(two_clinics, runtime_dsn):
    """Bound to A: only A's rows; a row for B is refused by WITH CHECK."""
    (a, _), (b, _) = two_clinics
    with psycopg.connect(runtime_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        tenants = {r[0] for r in conn.execute("SELECT DISTINCT tenant_id FROM users").fetchall()}
        assert tenants == {a.id}
        emails = {r[0] for r in conn.execute("SELECT email FROM users").fetchall()}
        assert a.owner_email in emails and b.owner_email not in emails
        assert (
            conn.execute("SELECT count(*) FROM users WHERE tenant_id = %s", (b.id,)).fetchone()[0]
            == 0
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO users (tenant_id, id, email, name, role, password_hash) "
                "VALUES (%s, %s, 'y@example.org', 'Y', 'owner', 'h')",
                (b.id, uuid.uuid4()),
            )
        conn.rollback()
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        updated = conn.execute(
            "UPDATE users SET name = 'hijacked' WHERE tenant_id = %s", (b.id,)
        ).rowcount
        assert updated == 0


def test_transaction_local_binding_does_not_leak_on_a_pooled_connection(two_clinics, runtime_dsn):
    """After a transaction bound to A ends, the same connection sees nothing (not A)."""
    (a, _), _ = two_clinics
    with psycopg.connect(runtime_dsn) as conn:
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(a.id),))
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] >= 1
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_audit_log_is_append_only_for_the_runtime_role(two_clinics, runtime_dsn):
    """The runtime role may insert and read audit entries, never change or delete them."""
    (a, _), _ = two_clinics
    with psycopg.connect(runtime_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_log SET action = 'nothing'")
        conn.rollback()
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")


def test_composite_foreign_keys_refuse_cross_clinic_references(two_clinics, owner_dsn):
    """Even bypassing RLS, a row of A cannot point at B's user (FKs include tenant_id)."""
    (a, _), (b, _) = two_clinics
    with psycopg.connect(owner_dsn) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO api_tokens (tenant_id, id, user_id, token_hash, expires_at) "
                "VALUES (%s, %s, %s, 'x', now())",
                (a.id, uuid.uuid4(), b.owner_id),
            )
