"""Delivery state on the outbox: every message says where it is and why.

``state`` is queued → sending → sent, or failed (a retry is due at ``next_attempt_at``),
dead (given up after the last attempt) or skipped (``skip_reason``: no consent, erased
patient, no address...). ``next_attempt_at`` is also the claim's lease while ``sending``:
a worker killed mid-send leaves the row to be claimed again once the lease ends.
``delivery_key`` names the message for its producer (a reminder's visit and offset): unique
per clinic, so a message is written once however often its producer runs.

``tenants.outbox_due_at`` is when the clinic's next pending message falls due (NULL: none):
the periodic sweep reads only the clinics whose time has come, through a partial index,
so its cost follows the clinics with work, not the number of clinics.

Revision ID: 0018_notifications
Revises: 0017_tenant_states
"""

from __future__ import annotations

from alembic import op

revision = "0018_notifications"
down_revision = "0017_tenant_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the state columns, backfill them from dispatched_at/attempts, index the due rows."""
    op.execute(
        """
        ALTER TABLE outbox
          ADD COLUMN state varchar(16) NOT NULL DEFAULT 'queued',
          ADD COLUMN skip_reason varchar(64),
          ADD COLUMN last_error varchar(300),
          ADD COLUMN provider_id varchar(255),
          ADD COLUMN delivery_key varchar(200),
          ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
          ADD COLUMN claimed_at timestamptz,
          ADD CONSTRAINT ck_outbox_state CHECK
            (state IN ('queued', 'sending', 'sent', 'failed', 'dead', 'skipped')),
          ADD CONSTRAINT uq_outbox_delivery_key UNIQUE (tenant_id, delivery_key);
        UPDATE outbox SET state = 'sent' WHERE dispatched_at IS NOT NULL;
        UPDATE outbox SET state = 'dead' WHERE dispatched_at IS NULL AND attempts >= 8;
        CREATE INDEX ix_outbox_due ON outbox (tenant_id, next_attempt_at)
          WHERE state IN ('queued', 'sending', 'failed');
        ALTER TABLE tenants ADD COLUMN outbox_due_at timestamptz;
        CREATE INDEX ix_tenants_outbox_due ON tenants (outbox_due_at)
          WHERE outbox_due_at IS NOT NULL;
        -- each clinic is looked at once by the first sweep, which records the real time
        UPDATE tenants SET outbox_due_at = now() WHERE status <> 'deleted';
        """
    )


def downgrade() -> None:
    """Drop the state columns (dispatched_at and attempts keep what the old relay needs)."""
    op.execute(
        """
        DROP INDEX IF EXISTS ix_outbox_due;
        DROP INDEX IF EXISTS ix_tenants_outbox_due;
        ALTER TABLE tenants DROP COLUMN outbox_due_at;
        UPDATE outbox SET attempts = greatest(attempts, 8) WHERE state = 'dead';
        ALTER TABLE outbox
          DROP CONSTRAINT uq_outbox_delivery_key,
          DROP CONSTRAINT ck_outbox_state,
          DROP COLUMN state, DROP COLUMN skip_reason, DROP COLUMN last_error,
          DROP COLUMN provider_id, DROP COLUMN delivery_key, DROP COLUMN next_attempt_at,
          DROP COLUMN claimed_at;
        """
    )
