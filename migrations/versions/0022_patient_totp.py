"""Optional two-step sign-in (TOTP) for patients.

``patients`` gets the TOTP secret sealed with the clinic's data key (``totp_secret_enc``,
re-encrypted by key rotation like every sealed column), when two-step sign-in was turned on
(``totp_enabled_at``; None means off) and the last accepted time step (a code works once).
``patient_recovery_codes`` holds the single-use recovery codes as SHA-256 digests; RLS like
every tenant table, deleted with the patient.

Revision ID: 0022_patient_totp
Revises: 0021_retention
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0022_patient_totp"
down_revision = "0021_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the patient's TOTP columns and the recovery codes table."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        ALTER TABLE patients
          ADD COLUMN totp_secret_enc bytea,
          ADD COLUMN totp_enabled_at timestamptz,
          ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0,
          ADD CONSTRAINT ck_patients_totp_enabled_has_secret
            CHECK (totp_enabled_at IS NULL OR totp_secret_enc IS NOT NULL);

        CREATE TABLE patient_recovery_codes (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          code_hash varchar(64) NOT NULL,
          used_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX ix_patient_recovery_codes_patient
          ON patient_recovery_codes (tenant_id, patient_id);
        """
    )
    protect_tenant_table("patient_recovery_codes")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop patients' two-step sign-in (everyone signs in with one factor again)."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        DROP TABLE patient_recovery_codes;
        ALTER TABLE patients
          DROP CONSTRAINT ck_patients_totp_enabled_has_secret,
          DROP COLUMN totp_last_step,
          DROP COLUMN totp_enabled_at,
          DROP COLUMN totp_secret_enc;
        """
    )
    op.execute("RESET ROLE")
