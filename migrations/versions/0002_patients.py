"""Patients (sealed contact details, blind-indexed email) and their portal tokens.

Revision ID: 0002_patients
Revises: 0001_foundation
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0002_patients"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create patients and patient_tokens with RLS."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE patients (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          full_name varchar(160) NOT NULL,
          email_index varchar(64),
          email_enc bytea,
          phone_enc bytea,
          date_of_birth_enc bytea,
          address_enc bytea,
          emergency_contact_enc bytea,
          preferred_language varchar(16),
          communication_prefs jsonb NOT NULL DEFAULT '{}',
          password_hash varchar(200),
          email_verified_at timestamptz,
          status varchar(16) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'erased')),
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_patients_tenant_email_index UNIQUE (tenant_id, email_index)
        );
        CREATE INDEX ix_patients_name ON patients (tenant_id, lower(full_name));

        CREATE TABLE patient_tokens (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          purpose varchar(16) NOT NULL DEFAULT 'session' CHECK (purpose IN ('session', 'verify')),
          token_hash varchar(64) NOT NULL,
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_patient_tokens_tenant_hash UNIQUE (tenant_id, token_hash),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    protect_tenant_table("patients")
    protect_tenant_table("patient_tokens")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the patient tables."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute("DROP TABLE IF EXISTS patient_tokens, patients CASCADE")
    op.execute("RESET ROLE")
