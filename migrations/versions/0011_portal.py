"""Patient sign-in links: a third purpose for portal tokens.

A patient can ask for a one-time sign-in link by email instead of typing a password; the
link's token is stored hashed in ``patient_tokens`` like the others, with purpose ``signin``
(single use, 15 minutes).

Revision ID: 0011_portal
Revises: 0008_sealed_cancel_reasons
"""

from __future__ import annotations

from alembic import op

revision = "0011_portal"
down_revision = "0008_sealed_cancel_reasons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Allow ``signin`` tokens."""
    op.execute("ALTER TABLE patient_tokens DROP CONSTRAINT patient_tokens_purpose_check")
    op.execute(
        "ALTER TABLE patient_tokens ADD CONSTRAINT patient_tokens_purpose_check "
        "CHECK (purpose IN ('session', 'verify', 'signin'))"
    )


def downgrade() -> None:
    """Back to session and verify tokens only (sign-in links are dropped)."""
    op.execute("DELETE FROM patient_tokens WHERE purpose = 'signin'")
    op.execute("ALTER TABLE patient_tokens DROP CONSTRAINT patient_tokens_purpose_check")
    op.execute(
        "ALTER TABLE patient_tokens ADD CONSTRAINT patient_tokens_purpose_check "
        "CHECK (purpose IN ('session', 'verify'))"
    )
