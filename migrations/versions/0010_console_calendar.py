"""Open calendars ask "did the schedule change?" cheaply: an index on appointment changes.

The console's calendar polls a per-clinic schedule version (an ETag; 304 while nothing
changed, see ``admin/clinic/appointments/calendar_views.py``). It is the clinic's schedule
counters (migration 0009) when the transaction has them; otherwise it is read from the
appointments changed in the last minutes, and this index (clinic first, then
``updated_at``) keeps that read an index-only range scan whatever the clinic's history.

Revision ID: 0010_console_calendar
Revises: 0011_portal
"""

from __future__ import annotations

from alembic import op

revision = "0010_console_calendar"
down_revision = "0011_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index appointments by clinic and last change."""
    op.execute("CREATE INDEX ix_appointments_updated ON appointments (tenant_id, updated_at)")


def downgrade() -> None:
    """Drop the index."""
    op.execute("DROP INDEX ix_appointments_updated")
