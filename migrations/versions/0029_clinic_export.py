"""The owner's export of the whole clinic (every patient's record, appointments, set-up).

``clinic_exports`` is like ``record_exports`` without a patient: assembled by a worker, the
zip sealed with the clinic's data key (``bundle_enc``, re-encrypted by key rotation like
every sealed column), downloaded once by the owner who asked, before it expires. RLS like
every tenant table.

Revision ID: 0029_clinic_export
Revises: 0025_ops_more
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0029_clinic_export"
down_revision = "0025_ops_more"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``clinic_exports``."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE clinic_exports (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          requested_by uuid NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'ready', 'downloaded', 'expired', 'failed')),
          bundle_enc bytea,
          size_bytes bigint,
          patients integer,
          ready_at timestamptz,
          expires_at timestamptz,
          downloaded_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id)
        );
        CREATE INDEX ix_clinic_exports_created ON clinic_exports (tenant_id, created_at);
        """
    )
    protect_tenant_table("clinic_exports")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop ``clinic_exports`` (pending and ready exports are lost; nothing else is)."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute("DROP TABLE clinic_exports")
    op.execute("RESET ROLE")
