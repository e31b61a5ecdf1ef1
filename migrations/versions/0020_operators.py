"""Platform operators, the platform audit log, and the operator role that cannot read patients.

- ``operators``: people who run the platform (``support`` or ``admin``), created with
  ``saas operators create``; password (argon2, as staff) and a TOTP secret sealed with the
  platform's own key (never a clinic key).
- ``platform_audit_log``: every operator action, hash-chained like a clinic's audit log
  (one chain for the whole platform, serialised by an advisory lock).
- ``tenants.trial_ends_at``: when a clinic's free trial ends (an operator may extend it).
- ``similia_ops``: the database role the operator console connects as. It reads platform
  tables and the few clinic columns an operator needs (a staff member's email and role to
  reach the owner); it has **no SELECT on any clinical table or sealed column** (the
  blindness test checks the catalog). Usage figures are counted by a worker job (runtime
  role, one clinic bound at a time, under RLS) into ``clinic_usage``, a platform table of
  numbers only, which the operator role reads. No SECURITY DEFINER function is involved.
  The role's password comes from ``OPS_DATABASE_PASSWORD`` when given (as 0007 does for
  the runtime role).

Revision ID: 0020_operators
Revises: 0022_patient_totp
"""

from __future__ import annotations

import os

from alembic import op

from migrations.helpers import OWNER_ROLE, RUNTIME_ROLE

revision = "0020_operators"
down_revision = "0022_patient_totp"
branch_labels = None
depends_on = None

OPS_ROLE = "similia_ops"


def upgrade() -> None:
    """Create the operator tables, the operator role and its grants."""
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OPS_ROLE}') THEN
            CREATE ROLE {OPS_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$;
        """
    )
    password = os.environ.get("OPS_DATABASE_PASSWORD")
    if password:
        quoted = password.replace("'", "''")
        op.execute(f"ALTER ROLE {OPS_ROLE} PASSWORD '{quoted}'")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {OPS_ROLE}")
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        ALTER TABLE tenants ADD COLUMN trial_ends_at timestamptz;

        CREATE TABLE operators (
          id uuid PRIMARY KEY,
          email varchar(254) NOT NULL,
          name varchar(120) NOT NULL,
          role varchar(20) NOT NULL CHECK (role IN ('support', 'admin')),
          password_hash varchar(200) NOT NULL,
          totp_secret text NOT NULL,
          totp_last_step bigint NOT NULL DEFAULT 0,
          is_active boolean NOT NULL DEFAULT true,
          session_epoch integer NOT NULL DEFAULT 0,
          last_login_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT uq_operators_email UNIQUE (email)
        );

        CREATE TABLE platform_audit_log (
          seq bigint PRIMARY KEY,
          id uuid NOT NULL,
          operator_id uuid REFERENCES operators(id),
          actor_kind varchar(20),
          actor_label varchar(254) NOT NULL,
          action varchar(64) NOT NULL,
          clinic_id uuid,
          target varchar(200),
          ip inet,
          request_id varchar(64),
          data jsonb NOT NULL DEFAULT '{}'::jsonb,
          prev_hash varchar(64) NOT NULL,
          hash varchar(64) NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT uq_platform_audit_log_id UNIQUE (id)
        );
        CREATE INDEX ix_platform_audit_log_clinic ON platform_audit_log (clinic_id, seq);

        CREATE TABLE clinic_usage (
          clinic_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
          practitioners bigint NOT NULL DEFAULT 0,
          patients bigint NOT NULL DEFAULT 0,
          appointments_month bigint NOT NULL DEFAULT 0,
          messages_month bigint NOT NULL DEFAULT 0,
          last_activity timestamptz,
          counted_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    op.execute("RESET ROLE")
    op.execute(
        f"""
        GRANT SELECT ON tenants TO {OPS_ROLE};
        GRANT UPDATE (status, trial_ends_at) ON tenants TO {OPS_ROLE};
        GRANT SELECT, INSERT, UPDATE ON operators TO {OPS_ROLE};
        GRANT SELECT, INSERT ON platform_audit_log TO {OPS_ROLE};
        GRANT SELECT (tenant_id, config, bookings) ON schedule_versions TO {OPS_ROLE};
        GRANT SELECT (tenant_id, seq, hash) ON audit_log TO {OPS_ROLE};
        GRANT INSERT ON audit_log TO {OPS_ROLE};
        GRANT INSERT ON outbox TO {OPS_ROLE};
        GRANT SELECT (tenant_id, id, email, name, role, is_active) ON users TO {OPS_ROLE};
        GRANT SELECT ON clinic_usage TO {OPS_ROLE};
        GRANT SELECT, INSERT, UPDATE ON clinic_usage TO {RUNTIME_ROLE};
        GRANT EXECUTE ON FUNCTION bind_clinic(text) TO {OPS_ROLE};
        GRANT EXECUTE ON FUNCTION audit_head(uuid) TO {OPS_ROLE};
        """
    )


def downgrade() -> None:
    """Drop the operator tables and the role's grants (roles are cluster-wide and stay)."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        DROP TABLE clinic_usage;
        DROP TABLE platform_audit_log;
        DROP TABLE operators;
        ALTER TABLE tenants DROP COLUMN trial_ends_at;
        """
    )
    op.execute("RESET ROLE")
    op.execute(
        f"""
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {OPS_ROLE};
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {OPS_ROLE};
        REVOKE USAGE ON SCHEMA public FROM {OPS_ROLE};
        """
    )
