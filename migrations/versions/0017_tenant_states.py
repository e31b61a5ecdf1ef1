"""A clinic's status takes the whole vocabulary of :mod:`tenants.status`.

``trialing``, ``past_due`` and ``closing`` join ``active``, ``suspended`` and ``deleted`` so
billing (subscriptions) and the operator console can move clinics through one set of states.

Revision ID: 0017_tenant_states
Revises: 0016_portal_more
"""

from __future__ import annotations

from alembic import op

revision = "0017_tenant_states"
down_revision = "0016_portal_more"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen the status check to every state in tenants.status.STATUSES."""
    op.execute(
        """
        ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
        ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN
          ('trialing', 'active', 'past_due', 'suspended', 'closing', 'deleted'));
        """
    )


def downgrade() -> None:
    """Fold the new states back into the three the old check knew."""
    op.execute(
        """
        UPDATE tenants SET status = 'active' WHERE status IN ('trialing', 'past_due');
        UPDATE tenants SET status = 'suspended' WHERE status = 'closing';
        ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
        ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN
          ('active', 'suspended', 'deleted'));
        """
    )
