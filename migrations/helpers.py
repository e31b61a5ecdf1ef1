"""SQL helpers every migration uses, so each tenant table gets the same protection."""

from __future__ import annotations

from alembic import op

RUNTIME_ROLE = "similia_app"
OWNER_ROLE = "similia_owner"

#: The one policy predicate; wrapped in SELECT so it is evaluated once per statement.
TENANT_PREDICATE = "tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)"


def protect_tenant_table(table: str, *, grants: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """Enable and force RLS with the tenant policy, and grant the runtime role ``grants``."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
    )
    op.execute(f"GRANT {grants} ON {table} TO {RUNTIME_ROLE}")


def grant_platform_table(table: str, grants: str = "SELECT, INSERT, UPDATE") -> None:
    """Grant the runtime role access to a platform-level (not tenant-scoped) table."""
    op.execute(f"GRANT {grants} ON {table} TO {RUNTIME_ROLE}")
