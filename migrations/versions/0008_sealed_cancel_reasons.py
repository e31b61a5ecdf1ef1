"""Cancellation reasons are sealed with the clinic's key; history and audit keep no text.

Patients write health details into a cancellation reason ("the fever is back"), so it is
clinical data: it is now sealed like every clinical field (``appointments.cancel_reason_enc``,
AES-GCM under the clinic's data key, bound to its row) and removed by erasure. The history
rows and audit entries of a cancellation record only *that* a reason was given.

Reasons written in clear before this version are dropped with their columns (they cannot be
sealed inside a migration, which has no access to the clinic keys). Audit entries already
written keep their data: the log is append-only and hash-chained.

Revision ID: 0008_sealed_cancel_reasons
Revises: 0007_runtime_role_password
"""

from __future__ import annotations

from alembic import op

revision = "0008_sealed_cancel_reasons"
down_revision = "0007_runtime_role_password"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Sealed column in, clear-text columns out."""
    op.execute("ALTER TABLE appointments ADD COLUMN cancel_reason_enc bytea")
    op.execute("ALTER TABLE appointments DROP COLUMN cancel_reason")
    op.execute("ALTER TABLE appointment_events DROP COLUMN reason")


def downgrade() -> None:
    """Clear-text columns back (empty); the sealed reasons are dropped."""
    op.execute("ALTER TABLE appointment_events ADD COLUMN reason varchar(500)")
    op.execute("ALTER TABLE appointments ADD COLUMN cancel_reason varchar(500)")
    op.execute("ALTER TABLE appointments DROP COLUMN cancel_reason_enc")
