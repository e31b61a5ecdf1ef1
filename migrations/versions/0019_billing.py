"""Billing with Stripe: plans, clinic subscriptions, Connect accounts, visit payments, events.

- ``plans`` (platform): what a clinic can subscribe to, with its limits.
- ``stripe_events`` (platform): every verified webhook event, by Stripe's id under the primary
  key, inserted in the same transaction as its effect — a replay conflicts and does nothing.
- ``clinic_subscriptions`` (tenant): the clinic's plan, Stripe customer and subscription, the
  subscription's last known state and the ``created`` of the event that set it (so an older
  event arriving late cannot undo a newer one).
- ``connect_accounts`` (tenant): the clinic's Stripe Express account and its onboarding state.
- ``visit_payments`` (tenant): one Checkout attempt for an appointment (attempt numbers make
  the idempotency keys), its amount, the platform's fee and what Stripe said.
- ``visit_types`` gain a payment mode: none, deposit (amount or percent) or full.

Revision ID: 0019_billing
Revises: 0020_operators
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, grant_platform_table, protect_tenant_table

revision = "0019_billing"
down_revision = "0020_operators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the billing tables and the visit types' payment settings."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE plans (
          code varchar(20) PRIMARY KEY,
          name varchar(60) NOT NULL,
          price_minor integer NOT NULL CHECK (price_minor >= 0),
          currency char(3) NOT NULL,
          max_practitioners integer NOT NULL,
          max_locations integer NOT NULL,
          sms_per_month integer NOT NULL,
          sort integer NOT NULL DEFAULT 0
        );
        INSERT INTO plans VALUES
          ('solo', 'Solo', 2900, 'EUR', 1, 1, 100, 1),
          ('clinic', 'Clinic', 7900, 'EUR', 5, 2, 500, 2),
          ('group', 'Group', 19900, 'EUR', 25, 10, 2500, 3);

        CREATE TABLE stripe_events (
          id varchar(255) PRIMARY KEY,
          type varchar(100) NOT NULL,
          account varchar(255),
          created bigint NOT NULL,
          payload jsonb NOT NULL,
          received_at timestamptz NOT NULL DEFAULT now(),
          processed_at timestamptz,
          outcome varchar(200) NOT NULL DEFAULT ''
        );
        CREATE INDEX ix_stripe_events_pending ON stripe_events (received_at)
          WHERE processed_at IS NULL;

        CREATE TABLE clinic_subscriptions (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          plan_code varchar(20) NOT NULL REFERENCES plans (code),
          status varchar(24) NOT NULL DEFAULT 'trialing',
          trial_ends_at timestamptz,
          current_period_end timestamptz,
          cancel_at_period_end boolean NOT NULL DEFAULT false,
          stripe_customer_id varchar(255),
          stripe_subscription_id varchar(255),
          state_event_created bigint NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id)
        );

        CREATE TABLE connect_accounts (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          account_id varchar(255) NOT NULL,
          details_submitted boolean NOT NULL DEFAULT false,
          charges_enabled boolean NOT NULL DEFAULT false,
          payouts_enabled boolean NOT NULL DEFAULT false,
          state_event_created bigint NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id)
        );

        CREATE TABLE visit_payments (
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          id uuid NOT NULL,
          appointment_id uuid NOT NULL,
          attempt integer NOT NULL,
          kind varchar(10) NOT NULL CHECK (kind IN ('deposit', 'full')),
          amount_minor bigint NOT NULL CHECK (amount_minor > 0),
          currency char(3) NOT NULL,
          application_fee_minor bigint NOT NULL DEFAULT 0,
          status varchar(20) NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'paid', 'failed', 'expired', 'refunded')),
          account_id varchar(255) NOT NULL,
          checkout_session_id varchar(255) NOT NULL,
          checkout_url text NOT NULL,
          payment_intent_id varchar(255),
          amount_refunded_minor bigint NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          paid_at timestamptz,
          PRIMARY KEY (tenant_id, id),
          UNIQUE (tenant_id, appointment_id, attempt),
          UNIQUE (tenant_id, checkout_session_id),
          FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id)
        );
        CREATE INDEX ix_visit_payments_paid ON visit_payments (tenant_id, paid_at);

        ALTER TABLE visit_types
          ADD COLUMN payment_mode varchar(10) NOT NULL DEFAULT 'none'
            CHECK (payment_mode IN ('none', 'deposit', 'full')),
          ADD COLUMN deposit_minor bigint CHECK (deposit_minor > 0),
          ADD COLUMN deposit_percent integer CHECK (deposit_percent BETWEEN 1 AND 100);
        UPDATE visit_types SET payment_mode = 'full' WHERE requires_prepayment;
        """
    )
    grant_platform_table("plans", "SELECT")
    grant_platform_table("stripe_events", "SELECT, INSERT, UPDATE")
    protect_tenant_table("clinic_subscriptions", grants="SELECT, INSERT, UPDATE")
    protect_tenant_table("connect_accounts", grants="SELECT, INSERT, UPDATE")
    protect_tenant_table("visit_payments", grants="SELECT, INSERT, UPDATE")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the billing tables and the payment settings."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        ALTER TABLE visit_types
          DROP COLUMN payment_mode, DROP COLUMN deposit_minor, DROP COLUMN deposit_percent;
        DROP TABLE visit_payments;
        DROP TABLE connect_accounts;
        DROP TABLE clinic_subscriptions;
        DROP TABLE stripe_events;
        DROP TABLE plans;
        """
    )
    op.execute("RESET ROLE")
