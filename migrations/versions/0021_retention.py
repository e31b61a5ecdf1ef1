"""Legal hold and records kept after an erasure within the retention period.

A patient under legal hold (placed by an owner, with a sealed reason) cannot be erased, by
hand or by the retention job. An erasure within the clinic's retention period removes the
patient's identity-bearing contact data but keeps the clinical records the law requires,
until ``records_kept_until``; the daily retention job then erases them.

Revision ID: 0021_retention
Revises: 0018_notifications
"""

from __future__ import annotations

from alembic import op

revision = "0021_retention"
down_revision = "0018_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Legal hold columns and the date until which an erased patient's records are kept."""
    op.execute(
        """
        ALTER TABLE patients
          ADD COLUMN legal_hold_at timestamptz,
          ADD COLUMN legal_hold_by uuid,
          ADD COLUMN legal_hold_reason_enc bytea,
          ADD COLUMN records_kept_until date,
          ADD CONSTRAINT patients_legal_hold_reason_check
            CHECK (legal_hold_at IS NULL OR legal_hold_reason_enc IS NOT NULL),
          ADD CONSTRAINT patients_records_kept_check
            CHECK (records_kept_until IS NULL OR status = 'erased');
        CREATE INDEX ix_patients_records_kept_until ON patients (tenant_id, records_kept_until)
          WHERE records_kept_until IS NOT NULL;
        """
    )


def downgrade() -> None:
    """Drop the columns (kept records stay as rows of an erased patient)."""
    op.execute(
        """
        DROP INDEX IF EXISTS ix_patients_records_kept_until;
        ALTER TABLE patients
          DROP CONSTRAINT IF EXISTS patients_records_kept_check,
          DROP CONSTRAINT IF EXISTS patients_legal_hold_reason_check,
          DROP COLUMN records_kept_until,
          DROP COLUMN legal_hold_reason_enc,
          DROP COLUMN legal_hold_by,
          DROP COLUMN legal_hold_at;
        """
    )
