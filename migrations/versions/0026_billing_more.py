"""Billing, continued: the trial sweep's clock, plan-limit overrides, refunds.

- ``tenants.status_changed_at``: when the clinic's status last changed
  (:func:`tenants.status.change_status`); the hourly billing sweep measures the past-due
  grace period from it. The operator role updates it with the status.
- ``tenants.limit_overrides``: an operator's adjustments of the plan's limits for one
  clinic (``{"max_practitioners": 8}``); the operator role updates it.
- Clinics still ``trialing`` without an end get one (signup + 14 days): the trial has one
  source of truth, ``tenants.trial_ends_at``, and ``clinic_subscriptions.trial_ends_at`` (a
  second copy that could disagree) is dropped; a subscription's trial end is copied to the
  clinic's (the one difference from "additive": the copy is recreated empty on downgrade).
- ``refunds``: one row per refund of a visit payment (by policy or by staff), sent to
  Stripe with an idempotency key made from the row's id and reconciled from
  ``charge.refunded`` / ``refund.updated``. A clinic table (RLS).

Revision ID: 0026_billing_more
Revises: 0029_clinic_export
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0026_billing_more"
down_revision = "0029_clinic_export"
branch_labels = None
depends_on = None

OPS_ROLE = "similia_ops"


def upgrade() -> None:
    """Add the columns and the refunds table."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        f"""
        ALTER TABLE tenants
          ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
          ADD COLUMN limit_overrides jsonb NOT NULL DEFAULT '{{}}'::jsonb;
        UPDATE tenants SET trial_ends_at = created_at + interval '14 days'
          WHERE status = 'trialing' AND trial_ends_at IS NULL;
        GRANT UPDATE (status_changed_at, limit_overrides) ON tenants TO {OPS_ROLE};
        UPDATE tenants t SET trial_ends_at = s.trial_ends_at
          FROM clinic_subscriptions s
          WHERE s.tenant_id = t.id AND t.status = 'trialing' AND s.trial_ends_at IS NOT NULL
            AND s.status = 'trialing' AND s.stripe_subscription_id IS NOT NULL;
        ALTER TABLE clinic_subscriptions DROP COLUMN trial_ends_at;

        CREATE TABLE refunds (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id uuid NOT NULL,
          payment_id uuid NOT NULL,
          amount_minor bigint NOT NULL CHECK (amount_minor > 0),
          currency char(3) NOT NULL,
          kind varchar(10) NOT NULL CHECK (kind IN ('policy', 'staff')),
          reason varchar(500) NOT NULL DEFAULT '',
          status varchar(20) NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
          stripe_refund_id varchar(255),
          created_by varchar(200) NOT NULL DEFAULT '',
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          state_event_created bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (tenant_id, id),
          UNIQUE (tenant_id, stripe_refund_id),
          FOREIGN KEY (tenant_id, payment_id) REFERENCES visit_payments (tenant_id, id)
        );
        CREATE INDEX ix_refunds_payment ON refunds (tenant_id, payment_id);
        """
    )
    protect_tenant_table("refunds", grants="SELECT, INSERT, UPDATE")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the refunds table and the columns."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        DROP TABLE refunds;
        ALTER TABLE clinic_subscriptions ADD COLUMN trial_ends_at timestamptz;
        ALTER TABLE tenants DROP COLUMN status_changed_at, DROP COLUMN limit_overrides;
        """
    )
    op.execute("RESET ROLE")
