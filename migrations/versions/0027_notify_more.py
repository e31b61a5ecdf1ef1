"""Notifications: practitioner alert preferences, per-visit-type reminders, SMS usage.

- ``practitioners.alerts_enabled`` (default on): the linked staff account is emailed on a
  new booking, a cancellation or a reschedule on the practitioner's calendar.
- ``practitioners.daily_agenda`` (default off): the day's agenda each morning.
- ``visit_types.reminder_offsets_minutes``: reminder offsets for one visit type; NULL
  keeps the clinic's (settings section ``reminders``).
- ``sms_usage``: texts (and their segments) a clinic sent per calendar month, counted at
  send time; a plan's SMS limit is checked against it (clinic table, RLS as every other).

Revision ID: 0027_notify_more
Revises: 0026_billing_more
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0027_notify_more"
down_revision = "0026_billing_more"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the ``sms_usage`` table."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        ALTER TABLE practitioners
          ADD COLUMN alerts_enabled boolean NOT NULL DEFAULT true,
          ADD COLUMN daily_agenda boolean NOT NULL DEFAULT false;
        ALTER TABLE visit_types ADD COLUMN reminder_offsets_minutes integer[]
          CHECK (reminder_offsets_minutes IS NULL OR cardinality(reminder_offsets_minutes) <= 4);
        CREATE TABLE sms_usage (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          month date NOT NULL CHECK (extract(day FROM month) = 1),
          messages bigint NOT NULL DEFAULT 0,
          segments bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (tenant_id, month)
        );
        """
    )
    protect_tenant_table("sms_usage", grants="SELECT, INSERT, UPDATE")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        DROP TABLE sms_usage;
        ALTER TABLE visit_types DROP COLUMN reminder_offsets_minutes;
        ALTER TABLE practitioners DROP COLUMN alerts_enabled, DROP COLUMN daily_agenda;
        """
    )
    op.execute("RESET ROLE")
