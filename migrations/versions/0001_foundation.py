"""Foundation: roles, tenants, staff accounts, credentials, audit log, outbox.

Revision ID: 0001_foundation
Revises:
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import (
    OWNER_ROLE,
    RUNTIME_ROLE,
    grant_platform_table,
    protect_tenant_table,
)

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = {
    "tenant_data_keys": "SELECT, INSERT, UPDATE",
    "users": "SELECT, INSERT, UPDATE, DELETE",
    "recovery_codes": "SELECT, INSERT, UPDATE, DELETE",
    "api_tokens": "SELECT, INSERT, UPDATE, DELETE",
    "password_resets": "SELECT, INSERT, UPDATE, DELETE",
    "invitations": "SELECT, INSERT, UPDATE, DELETE",
    # append-only: no UPDATE, no DELETE for the runtime role
    "audit_log": "SELECT, INSERT",
    "outbox": "SELECT, INSERT, UPDATE, DELETE",
}


def upgrade() -> None:
    """Create roles (when allowed), extensions and the foundation tables."""
    op.execute(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
            CREATE ROLE {OWNER_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
            CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$;
        """
    )
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {OWNER_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {RUNTIME_ROLE}")
    op.execute(
        f"DO $$ BEGIN IF current_user <> '{OWNER_ROLE}' THEN "
        f"EXECUTE 'GRANT {OWNER_ROLE} TO ' || quote_ident(current_user); END IF; END $$;"
    )
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")

    op.execute(
        """
        CREATE TABLE tenants (
          id uuid PRIMARY KEY,
          slug varchar(40) NOT NULL CONSTRAINT uq_tenants_slug UNIQUE,
          name varchar(120) NOT NULL,
          timezone varchar(64) NOT NULL,
          country char(2) NOT NULL,
          currency char(3) NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'suspended', 'deleted')),
          custom_domain varchar(253) CONSTRAINT uq_tenants_custom_domain UNIQUE,
          settings jsonb NOT NULL DEFAULT '{}',
          dek_version integer NOT NULL DEFAULT 1,
          created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE tenant_data_keys (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          version integer NOT NULL,
          wrapped text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          UNIQUE (tenant_id, version)
        );

        CREATE TABLE users (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          email varchar(254) NOT NULL,
          name varchar(120) NOT NULL,
          role varchar(20) NOT NULL
            CHECK (role IN ('owner', 'admin', 'practitioner', 'receptionist')),
          password_hash varchar(200) NOT NULL,
          totp_secret bytea,
          mfa_enrolled_at timestamptz,
          totp_last_step bigint NOT NULL DEFAULT 0,
          is_active boolean NOT NULL DEFAULT true,
          session_epoch integer NOT NULL DEFAULT 0,
          last_login_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_users_tenant_email UNIQUE (tenant_id, email)
        );

        CREATE TABLE recovery_codes (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          user_id uuid NOT NULL,
          code_hash varchar(64) NOT NULL,
          used_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX ix_recovery_codes_user ON recovery_codes (tenant_id, user_id);

        CREATE TABLE api_tokens (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          user_id uuid NOT NULL,
          token_hash varchar(64) NOT NULL,
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_api_tokens_tenant_hash UNIQUE (tenant_id, token_hash),
          FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        );

        CREATE TABLE password_resets (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          user_id uuid NOT NULL,
          token_hash varchar(64) NOT NULL,
          expires_at timestamptz NOT NULL,
          used_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_password_resets_tenant_hash UNIQUE (tenant_id, token_hash),
          FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        );

        CREATE TABLE invitations (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          email varchar(254) NOT NULL,
          name varchar(120) NOT NULL,
          role varchar(20) NOT NULL
            CHECK (role IN ('owner', 'admin', 'practitioner', 'receptionist')),
          invited_by uuid NOT NULL,
          token_hash varchar(64) NOT NULL,
          expires_at timestamptz NOT NULL,
          accepted_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_invitations_tenant_hash UNIQUE (tenant_id, token_hash),
          FOREIGN KEY (tenant_id, invited_by) REFERENCES users (tenant_id, id)
        );

        CREATE TABLE audit_log (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          seq bigint NOT NULL,
          actor_id uuid,
          actor_label varchar(254) NOT NULL,
          action varchar(64) NOT NULL,
          target varchar(200),
          ip inet,
          request_id varchar(64),
          data jsonb NOT NULL DEFAULT '{}',
          prev_hash varchar(64) NOT NULL,
          hash varchar(64) NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_audit_log_tenant_seq UNIQUE (tenant_id, seq)
        );

        CREATE TABLE outbox (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          topic varchar(64) NOT NULL,
          payload jsonb NOT NULL,
          dispatched_at timestamptz,
          attempts bigint NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id)
        );
        CREATE INDEX ix_outbox_pending ON outbox (tenant_id, created_at)
          WHERE dispatched_at IS NULL;
        """
    )
    grant_platform_table("tenants")
    for table, grants in TENANT_TABLES.items():
        protect_tenant_table(table, grants=grants)
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the foundation tables (roles are cluster-wide and stay)."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    for table in [*reversed(list(TENANT_TABLES)), "tenants"]:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("RESET ROLE")
