"""Clinic logos: the re-encoded image a clinic uploads on the console's branding page.

One row per clinic (``uq_clinic_logos_tenant_id``); the bytes are the Pillow re-encoding of
the upload (no metadata), never the upload itself, stored as base64 text: ``bytea`` is kept
for sealed values in this schema (``tests/saas/test_sealed_columns.py``), and a logo is
public, not sealed. Tenant-scoped with RLS like every
tenant table.

Revision ID: 0009_console_setup
Revises: 0009_hot_paths
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0009_console_setup"
down_revision = "0009_hot_paths"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The logo table, protected."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE clinic_logos (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          content_type varchar(32) NOT NULL
            CHECK (content_type IN ('image/png', 'image/jpeg')),
          data_b64 text NOT NULL,
          width integer NOT NULL,
          height integer NOT NULL,
          sha256 varchar(64) NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT clinic_logos_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id),
          CONSTRAINT uq_clinic_logos_tenant_id UNIQUE (tenant_id)
        );
        """
    )
    protect_tenant_table("clinic_logos")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the logos."""
    op.execute("DROP TABLE clinic_logos")
