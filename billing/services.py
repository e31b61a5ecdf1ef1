"""Billing verbs: subscriptions, the customer portal, Connect onboarding, visit checkouts.

Every Stripe write carries an idempotency key made from our own records
(:func:`billing.gateway.idem`): the clinic id for its customer and account, the clinic id,
plan and a counter for a subscription checkout, the appointment id and attempt number for a
visit checkout. A retry after a timeout repeats the same request; Stripe answers it once.

Decisions:

- The 14-day trial starts at signup and has one source of truth, ``tenants.trial_ends_at``
  (signup sets it, an operator extends it, :mod:`billing.lifecycle` ends it); a Checkout
  begun during the trial carries the rest of it (``subscription_data[trial_end]``). When an
  operator extends the trial of a clinic that already subscribed, a job (:func:`sync_trial`)
  moves the Stripe subscription's trial to the new end, so Stripe does not bill earlier
  than the clinic was promised; its webhook then confirms the same end.
- The clinic's status is never set here; webhooks move it (:mod:`billing.events`).
- A visit payment is made on the clinic's connected account (``Stripe-Account``) with the
  platform's application fee (:data:`APPLICATION_FEE_PERCENT`); a clinic whose account is
  not ready takes no online payment (bookings stay "pay at the clinic").
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor
from saas.db import bind_tenant
from saas.exceptions import Conflict, Invalid
from saas.models import Tenant, utcnow
from tenants import status as clinic_status

from . import gateway
from .models import ClinicSubscription, ConnectAccount, Plan, VisitPayment

TRIAL_DAYS = clinic_status.TRIAL_DAYS
DEFAULT_PLAN = "clinic"
#: The platform's share of each visit payment.
APPLICATION_FEE_PERCENT = 2


def plans(sess: Session) -> list[Plan]:
    """The plans on offer, cheapest first."""
    return list(sess.scalars(select(Plan).order_by(Plan.sort)))


def subscription_for(sess: Session, tenant: Tenant) -> ClinicSubscription:
    """The clinic's subscription row (created, trialing since signup, on first use)."""
    bind_tenant(sess, tenant.id)
    sub = sess.get(ClinicSubscription, tenant.id)
    if sub is None:
        sub = ClinicSubscription(
            tenant_id=tenant.id,
            plan_code=DEFAULT_PLAN,
            status="trialing",
            state_event_created=0,
            cancel_at_period_end=False,
        )
        sess.add(sub)
        sess.flush()
    return sub


def _customer(sess: Session, tenant: Tenant, actor: Actor, sub: ClinicSubscription) -> str:
    if sub.stripe_customer_id:
        return sub.stripe_customer_id
    client = gateway.client()
    customer = gateway.call(
        client.v1.customers.create,
        params={
            "name": tenant.name,
            "email": actor.user.email if actor.user else None,
            "metadata": {"tenant_id": str(tenant.id), "slug": tenant.slug},
        },
        options=gateway.options(gateway.idem("customer", tenant.id)),
    )
    sub.stripe_customer_id = customer.id
    sess.flush()
    return customer.id


def start_subscription_checkout(
    sess: Session,
    tenant: Tenant,
    actor: Actor,
    plan_code: str,
    *,
    success_url: str,
    cancel_url: str,
) -> str:
    """A Checkout Session (subscription mode) for ``plan_code``; returns its URL."""
    plan = sess.get(Plan, plan_code)
    if plan is None:
        raise Invalid({"plan": "Choose one of the plans."})
    sub = subscription_for(sess, tenant)
    if sub.stripe_subscription_id and sub.status in ("active", "trialing", "past_due"):
        raise Conflict(
            {"plan": "You already have a subscription; change or cancel it in the billing portal."}
        )
    customer = _customer(sess, tenant, actor, sub)
    data: dict = {"metadata": {"tenant_id": str(tenant.id), "plan": plan.code}}
    now = utcnow()
    trial_end = tenant.trial_ends_at
    if trial_end and trial_end > now + dt.timedelta(hours=48):
        data["trial_end"] = int(trial_end.timestamp())
    # one checkout per plan and state change: a retry reuses the session, a new try does not
    key = gateway.idem("subscribe", tenant.id, plan.code, sub.state_event_created, now.date())
    session = gateway.call(
        gateway.client().v1.checkout.sessions.create,
        params={
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(tenant.id),
            "line_items": [
                {
                    "price_data": {
                        "currency": plan.currency.lower(),
                        "unit_amount": plan.price_minor,
                        "recurring": {"interval": "month"},
                        "product_data": {"name": f"Similia {plan.name}"},
                    },
                    "quantity": 1,
                }
            ],
            "subscription_data": data,
            "metadata": {"tenant_id": str(tenant.id), "plan": plan.code},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        options=gateway.options(key),
    )
    audit.record(
        sess, tenant.id, "billing.checkout_started", actor=actor, target=f"plan:{plan.code}"
    )
    return session.url


def sync_trial(sess: Session, tenant: Tenant) -> str:
    """Give the clinic's Stripe subscription, while in its trial, the clinic's trial end.

    A no-op without a trialing subscription. The key holds the new end, so a retry repeats
    the same request and a later extension makes a new one. Raises
    :class:`billing.gateway.PaymentsUnavailable` when Stripe did not answer (the job retries).
    """
    sub = sess.get(ClinicSubscription, tenant.id)
    end = tenant.trial_ends_at
    if sub is None or not sub.stripe_subscription_id or sub.status != "trialing" or end is None:
        return "no subscription in trial"
    stamp = int(end.timestamp())
    gateway.call(
        gateway.client().v1.subscriptions.update,
        sub.stripe_subscription_id,
        params={"trial_end": stamp, "proration_behavior": "none"},
        options=gateway.options(gateway.idem("trial", tenant.id, stamp)),
    )
    return "trial moved"


def billing_portal_url(sess: Session, tenant: Tenant, actor: Actor, *, return_url: str) -> str:
    """A Stripe customer portal session (cards, invoices, plan changes, cancellation)."""
    sub = subscription_for(sess, tenant)
    if not sub.stripe_customer_id:
        raise Conflict("Subscribe to a plan first; the billing portal opens after that.")
    portal = gateway.call(
        gateway.client().v1.billing_portal.sessions.create,
        params={"customer": sub.stripe_customer_id, "return_url": return_url},
        options=gateway.options(gateway.idem("portal", tenant.id, uuid.uuid4())),
    )
    return portal.url


# ----------------------------------------------------------------------------------------------
# Connect
# ----------------------------------------------------------------------------------------------


def connect_account_for(sess: Session, tenant: Tenant) -> ConnectAccount | None:
    """The clinic's connected account, if it started onboarding."""
    bind_tenant(sess, tenant.id)
    return sess.get(ConnectAccount, tenant.id)


def onboarding_link(
    sess: Session, tenant: Tenant, actor: Actor, *, return_url: str, refresh_url: str
) -> str:
    """Create the clinic's Express account (once) and an onboarding link; returns its URL."""
    client = gateway.client()
    acct = connect_account_for(sess, tenant)
    if acct is None:
        created = gateway.call(
            client.v1.accounts.create,
            params={
                "type": "express",
                "country": tenant.country,
                "default_currency": tenant.currency.lower(),
                "email": actor.user.email if actor.user else None,
                "metadata": {"tenant_id": str(tenant.id)},
            },
            options=gateway.options(gateway.idem("account", tenant.id)),
        )
        acct = ConnectAccount(
            tenant_id=tenant.id,
            account_id=created.id,
            details_submitted=False,
            charges_enabled=False,
            payouts_enabled=False,
            state_event_created=0,
        )
        sess.add(acct)
        sess.flush()
        audit.record(
            sess, tenant.id, "billing.connect_started", actor=actor, target=f"account:{created.id}"
        )
    link = gateway.call(
        client.v1.account_links.create,
        params={
            "account": acct.account_id,
            "type": "account_onboarding",
            "return_url": return_url,
            "refresh_url": refresh_url,
        },
        options=gateway.options(gateway.idem("account_link", tenant.id, uuid.uuid4())),
    )
    return link.url


# ----------------------------------------------------------------------------------------------
# Visit payments
# ----------------------------------------------------------------------------------------------


def amount_due(visit_type, price_minor: int) -> tuple[str, int] | None:
    """What the patient pays online for a visit: (``deposit``/``full``, minor units) or None."""
    mode = getattr(visit_type, "payment_mode", "none") or "none"
    if mode == "none" and getattr(visit_type, "requires_prepayment", False):
        mode = "full"
    if mode == "full" and price_minor > 0:
        return "full", price_minor
    if mode == "deposit":
        if visit_type.deposit_minor:
            return "deposit", min(visit_type.deposit_minor, price_minor or visit_type.deposit_minor)
        if visit_type.deposit_percent and price_minor:
            return "deposit", max(1, math.ceil(price_minor * visit_type.deposit_percent / 100))
    return None


def start_visit_checkout(
    sess: Session,
    tenant: Tenant,
    appt,
    visit_type,
    *,
    success_url: str,
    cancel_url: str,
    email: str | None = None,
) -> VisitPayment:
    """A Checkout Session on the clinic's connected account for a held appointment.

    The attempt number (1, 2, ... per appointment) makes the idempotency key, so a retried
    request returns the same session, while a new attempt after a decline or expiry gets a
    new one.
    """
    due = amount_due(visit_type, appt.price_minor)
    if due is None:
        raise Invalid("This visit is not paid online.")
    acct = connect_account_for(sess, tenant)
    if acct is None or not acct.ready:
        raise Conflict("This clinic does not take online payments yet; pay at the clinic.")
    open_payment = sess.scalars(
        select(VisitPayment).where(
            VisitPayment.tenant_id == tenant.id,
            VisitPayment.appointment_id == appt.id,
            VisitPayment.status.in_(("open", "paid")),
        )
    ).first()
    if open_payment is not None:
        return open_payment
    kind, amount = due
    attempt = 1 + (
        sess.scalar(
            select(func.coalesce(func.max(VisitPayment.attempt), 0)).where(
                VisitPayment.tenant_id == tenant.id, VisitPayment.appointment_id == appt.id
            )
        )
        or 0
    )
    fee = amount * APPLICATION_FEE_PERCENT // 100
    payment_id = uuid.uuid4()
    metadata = {
        "tenant_id": str(tenant.id),
        "appointment_id": str(appt.id),
        "payment_id": str(payment_id),
    }
    params: dict = {
        "mode": "payment",
        "client_reference_id": str(appt.id),
        "line_items": [
            {
                "price_data": {
                    "currency": appt.currency.lower(),
                    "unit_amount": amount,
                    "product_data": {
                        "name": f"{visit_type.name} ({'deposit' if kind == 'deposit' else 'visit'})"
                    },
                },
                "quantity": 1,
            }
        ],
        "payment_intent_data": {"application_fee_amount": fee, "metadata": metadata},
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if appt.hold_expires_at:
        # Stripe needs at least 30 minutes; the hold may be shorter (expiry then releases it)
        params["expires_at"] = int(
            max(appt.hold_expires_at, utcnow() + dt.timedelta(minutes=30)).timestamp()
        )
    if email:
        params["customer_email"] = email
    session = gateway.call(
        gateway.client().v1.checkout.sessions.create,
        params=params,
        options=gateway.options(gateway.idem("visit", appt.id, attempt), acct.account_id),
    )
    pay = VisitPayment(
        id=payment_id,
        tenant_id=tenant.id,
        appointment_id=appt.id,
        attempt=attempt,
        kind=kind,
        amount_minor=amount,
        currency=appt.currency,
        application_fee_minor=fee,
        status="open",
        account_id=acct.account_id,
        checkout_session_id=session.id,
        checkout_url=session.url,
        amount_refunded_minor=0,
    )
    sess.add(pay)
    sess.flush()
    return pay


def payments_for_appointment(sess: Session, tenant: Tenant, appointment_id) -> list[VisitPayment]:
    """The appointment's payment attempts, newest first (receipts show the paid one)."""
    return list(
        sess.scalars(
            select(VisitPayment)
            .where(
                VisitPayment.tenant_id == tenant.id, VisitPayment.appointment_id == appointment_id
            )
            .order_by(VisitPayment.attempt.desc())
        )
    )


def patient_balance(sess: Session, tenant_id, patient_id) -> dict:
    """What a patient paid online and what awaits their payment, in minor units (one query).

    ``paid`` is what online payments brought in, net of refunds; ``awaiting`` is the
    Checkout still open for visits held until paid (only the latest attempt of a visit
    counts). Shown on the staff's patient page; amounts are in the clinic's ``currency``.
    """
    from saas.scheduling.models import Appointment

    latest = (
        select(
            VisitPayment.appointment_id,
            func.max(VisitPayment.attempt).label("attempt"),
        )
        .where(VisitPayment.tenant_id == tenant_id)
        .group_by(VisitPayment.appointment_id)
        .subquery()
    )
    paid = func.coalesce(
        func.sum(VisitPayment.amount_minor - VisitPayment.amount_refunded_minor).filter(
            VisitPayment.status.in_(("paid", "refunded"))
        ),
        0,
    )
    awaiting = func.coalesce(
        func.sum(VisitPayment.amount_minor).filter(
            VisitPayment.status == "open",
            VisitPayment.attempt == latest.c.attempt,
            Appointment.status == "held",
        ),
        0,
    )
    row = sess.execute(
        select(paid, awaiting, func.count())
        .select_from(VisitPayment)
        .join(
            Appointment,
            (Appointment.tenant_id == VisitPayment.tenant_id)
            & (Appointment.id == VisitPayment.appointment_id),
        )
        .join(latest, latest.c.appointment_id == VisitPayment.appointment_id)
        .where(VisitPayment.tenant_id == tenant_id, Appointment.patient_id == patient_id)
    ).one()
    return {"paid": int(row[0]), "awaiting": int(row[1]), "payments": int(row[2])}
