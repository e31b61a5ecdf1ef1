"""Consented support access, owner help and more health figures for the operator console.

- ``support_grants``: a clinic's owner lets Similia support look at the clinic's
  non-clinical console information for a limited time (clinic table, RLS as every other).
  The runtime role writes it (the owner, in the console); the operator role reads it.
- ``outbox``: the operator role may read a message's *state* columns (topic, state,
  attempts, times, skip reason) — never ``payload`` or ``last_error``. The console shows
  them only while the clinic's owner allows support access (checked against the database
  clock, :mod:`admin.platform.support`). Not a second RLS policy: every clinic table keeps
  exactly one policy, the tenant predicate (``tests/saas/test_isolation.py``), and the
  columns granted hold nothing clinical (the blindness test lists them).
- Owner help: the operator role may read a clinic's invitations (who, role, validity),
  renew one (new token hash, new expiry) and create a password reset for an owner.
- ``platform_audit_log``: the runtime role appends too (an owner granting support access
  is a fact of the platform's log as well as the clinic's).
- ``clinic_usage`` gains storage (attachment bytes), failed and dead messages, the oldest
  pending message and the subscription and Connect states, counted by the usage job
  (runtime role, one clinic bound at a time), so the operator role still reads no clinic
  table for them.
- ``tenants.delete_after``: the end of a closing clinic's grace period
  (:mod:`tenants.closing`); an operator admin may start it (the operator role updates it).
- ``stripe_events``: the operator role reads the columns that measure the webhook backlog
  (id, type, received, processed), never ``payload``.

Revision ID: 0025_ops_more
Revises: 0019_billing
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, RUNTIME_ROLE, protect_tenant_table

revision = "0025_ops_more"
down_revision = "0019_billing"
branch_labels = None
depends_on = None

OPS_ROLE = "similia_ops"
OUTBOX_STATE_COLUMNS = (
    "tenant_id, id, topic, state, attempts, created_at, dispatched_at, next_attempt_at, skip_reason"
)


def upgrade() -> None:
    """Create support_grants, and the new grants and columns."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE support_grants (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id uuid NOT NULL,
          granted_by uuid NOT NULL,
          hours integer NOT NULL CHECK (hours BETWEEN 1 AND 72),
          created_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz,
          revoked_by uuid,
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, granted_by) REFERENCES users (tenant_id, id),
          FOREIGN KEY (tenant_id, revoked_by) REFERENCES users (tenant_id, id)
        );
        CREATE INDEX ix_support_grants_active ON support_grants (tenant_id, expires_at)
          WHERE revoked_at IS NULL;

        ALTER TABLE tenants ADD COLUMN delete_after timestamptz;

        ALTER TABLE clinic_usage
          ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0,
          ADD COLUMN messages_failed bigint NOT NULL DEFAULT 0,
          ADD COLUMN messages_dead bigint NOT NULL DEFAULT 0,
          ADD COLUMN oldest_pending_at timestamptz,
          ADD COLUMN subscription_status varchar(24),
          ADD COLUMN connect_state varchar(24);
        """
    )
    protect_tenant_table("support_grants", grants="SELECT, INSERT, UPDATE")
    op.execute("RESET ROLE")
    op.execute(
        f"""
        GRANT UPDATE (delete_after) ON tenants TO {OPS_ROLE};
        GRANT SELECT ON support_grants TO {OPS_ROLE};
        GRANT SELECT ({OUTBOX_STATE_COLUMNS}) ON outbox TO {OPS_ROLE};
        GRANT SELECT (tenant_id, id, email, name, role, expires_at, accepted_at)
          ON invitations TO {OPS_ROLE};
        GRANT UPDATE (token_hash, expires_at) ON invitations TO {OPS_ROLE};
        GRANT INSERT ON password_resets TO {OPS_ROLE};
        GRANT SELECT (id, type, received_at, processed_at) ON stripe_events TO {OPS_ROLE};
        GRANT SELECT, INSERT ON platform_audit_log TO {RUNTIME_ROLE};
        """
    )


def downgrade() -> None:
    """Drop the table, the columns and the grants."""
    op.execute(
        f"""
        REVOKE SELECT, INSERT ON platform_audit_log FROM {RUNTIME_ROLE};
        REVOKE SELECT ON stripe_events FROM {OPS_ROLE};
        REVOKE INSERT ON password_resets FROM {OPS_ROLE};
        REVOKE SELECT, UPDATE ON invitations FROM {OPS_ROLE};
        REVOKE SELECT ON outbox FROM {OPS_ROLE};
        """
    )
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        DROP TABLE support_grants;
        ALTER TABLE tenants DROP COLUMN delete_after;
        ALTER TABLE clinic_usage
          DROP COLUMN storage_bytes, DROP COLUMN messages_failed, DROP COLUMN messages_dead,
          DROP COLUMN oldest_pending_at, DROP COLUMN subscription_status,
          DROP COLUMN connect_state;
        """
    )
    op.execute("RESET ROLE")
