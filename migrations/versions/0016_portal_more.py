"""Patients download a copy of their own data from the portal.

A data export may now be asked for by the patient (``requested_by_patient``) instead of a
member of staff: ``requested_by`` is then empty (the check keeps one of the two), and only
that patient may download it on the portal (see ``saas.records.gdpr.request_own_export``).

Revision ID: 0016_portal_more
Revises: 0010_console_calendar
"""

from __future__ import annotations

from alembic import op

revision = "0016_portal_more"
down_revision = "0010_console_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A patient-requested export has no staff requester."""
    op.execute(
        """
        ALTER TABLE record_exports
          ADD COLUMN requested_by_patient boolean NOT NULL DEFAULT false,
          ALTER COLUMN requested_by DROP NOT NULL,
          ADD CONSTRAINT ck_record_exports_requester
            CHECK (requested_by_patient OR requested_by IS NOT NULL);
        CREATE INDEX ix_record_exports_patient ON record_exports (tenant_id, patient_id);
        """
    )


def downgrade() -> None:
    """Drop patient-requested exports and the column."""
    op.execute(
        """
        DROP INDEX ix_record_exports_patient;
        DELETE FROM record_exports WHERE requested_by IS NULL;
        ALTER TABLE record_exports
          DROP CONSTRAINT ck_record_exports_requester,
          DROP COLUMN requested_by_patient,
          ALTER COLUMN requested_by SET NOT NULL;
        """
    )
