"""Billing tables (migration ``0019_billing``): plans, events, subscriptions, Connect, payments."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saas.models import Base, TenantScoped, utcnow
from saas.models.base import tenant_fk


class Plan(Base):
    """A subscription plan (platform-level) and its limits."""

    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    price_minor: Mapped[int] = mapped_column(Integer)  #: per month
    currency: Mapped[str] = mapped_column(CHAR(3))
    max_practitioners: Mapped[int] = mapped_column(Integer)
    max_locations: Mapped[int] = mapped_column(Integer)
    sms_per_month: Mapped[int] = mapped_column(Integer)
    sort: Mapped[int] = mapped_column(Integer, default=0)


class StripeEvent(Base):
    """A verified webhook event, stored by Stripe's id in the transaction of its effect."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    #: The connected account for Connect events; None for the platform's own.
    account: Mapped[str | None] = mapped_column(String(255))
    #: The event's ``created`` (Unix seconds).
    created: Mapped[int] = mapped_column(BigInteger)
    #: The event as Stripe sent it (verified).
    payload: Mapped[dict] = mapped_column(JSONB)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    #: Set by the worker in the transaction that applied the event's effect.
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: What processing did ("applied", "stale", "ignored: ...").
    outcome: Mapped[str] = mapped_column(String(200), default="")


class ClinicSubscription(Base):
    """The clinic's plan and its Stripe subscription, as the last applicable event left it."""

    __tablename__ = "clinic_subscriptions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id"), primary_key=True
    )
    plan_code: Mapped[str] = mapped_column(String(20), ForeignKey("plans.code"))
    #: Stripe's subscription status (``trialing`` before any subscription exists).
    status: Mapped[str] = mapped_column(String(24), default="trialing")
    # The trial's end is ``tenants.trial_ends_at`` (one source of truth: signup sets it, the
    # operator extends it, Checkout and webhooks read and write it); this table's old
    # ``trial_ends_at`` column was dropped (migration ``0026_billing_more``).
    current_period_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    #: ``created`` of the event that set the state: older events never undo newer ones.
    state_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class ConnectAccount(Base):
    """The clinic's Stripe Express account and its onboarding state (from ``account.updated``)."""

    __tablename__ = "connect_accounts"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(String(255))
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    state_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )

    @property
    def ready(self) -> bool:
        """True when patients can pay this clinic online."""
        return self.charges_enabled and self.details_submitted


class VisitPayment(TenantScoped, Base):
    """One Checkout attempt for an appointment: amount, fee, and what Stripe reported."""

    __tablename__ = "visit_payments"
    __table_args__ = (
        tenant_fk("visit_payments"),
        ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["appointments.tenant_id", "appointments.id"],
            name="visit_payments_tenant_id_appointment_id_fkey",
        ),
        UniqueConstraint(
            "tenant_id", "appointment_id", "attempt",
            name="visit_payments_tenant_id_appointment_id_attempt_key",
        ),
        UniqueConstraint(
            "tenant_id", "checkout_session_id",
            name="visit_payments_tenant_id_checkout_session_id_key",
        ),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: 1, 2, ...: a new Checkout after a decline or expiry; part of the idempotency key.
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  #: deposit or full
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    application_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: open, paid, failed, expired, refunded
    status: Mapped[str] = mapped_column(String(20), default="open")
    account_id: Mapped[str] = mapped_column(String(255))
    checkout_session_id: Mapped[str] = mapped_column(String(255))
    checkout_url: Mapped[str] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Refund(TenantScoped, Base):
    """One refund of a visit payment, by policy or by staff (migration ``0026_billing_more``).

    Sent to Stripe with the idempotency key ``idem("refund", id)``; its status comes from
    Stripe's answer and the ``charge.refunded`` / ``refund.updated`` webhooks.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        tenant_fk("refunds"),
        ForeignKeyConstraint(
            ["tenant_id", "payment_id"],
            ["visit_payments.tenant_id", "visit_payments.id"],
            name="refunds_tenant_id_payment_id_fkey",
        ),
        UniqueConstraint(
            "tenant_id", "stripe_refund_id", name="refunds_tenant_id_stripe_refund_id_key"
        ),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    kind: Mapped[str] = mapped_column(String(10))  #: policy or staff
    reason: Mapped[str] = mapped_column(String(500), default="")
    #: pending (not yet confirmed by Stripe), succeeded, failed, canceled
    status: Mapped[str] = mapped_column(String(20), default="pending")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    state_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
