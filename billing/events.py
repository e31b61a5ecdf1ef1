"""Applying stored Stripe events: once each, in order of what they say, never across clinics.

:func:`process_in` (called by the ``process_stripe_event`` actor, and by the sweep for
events whose kick was lost) locks the event's row (``FOR UPDATE SKIP LOCKED``), applies its
effect and marks it processed in the same transaction: concurrent workers cannot both apply
it, and a crash leaves it pending for the next sweep.

Decisions:

- **Which clinic.** Our metadata names the clinic (``tenant_id``), and the ids Stripe sends
  must agree with what that clinic's rows hold: the customer for subscriptions, the
  connected account for Connect events (``event.account``), the checkout session and account
  for a visit payment. A mismatch is ignored and logged (outcome ``ignored: ...``); one
  clinic's event can never touch another clinic's rows.
- **Out of order.** Subscription and account states carry the ``created`` of the event that
  set them; an older event is recorded as ``stale`` and changes nothing. Visit payments only
  move forward (open → paid/failed/expired), so a late ``expired`` after ``paid`` is a no-op.
- **Clinic status** follows the subscription through :func:`tenants.status.change_status`
  (audited, actor ``stripe``): trialing/active → as is; past_due → past_due (console banner,
  grace period while Stripe retries); unpaid/canceled/incomplete_expired → suspended; a
  clinic that is closing or deleted is never moved by billing.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor
from saas.db import bind_tenant
from saas.models import Tenant, utcnow
from saas.scheduling.holds import release_hold
from saas.scheduling.messages import notify
from saas.scheduling.models import Appointment
from saas.scheduling.services import confirm_appointment
from tenants import status as clinic_status

from .models import ClinicSubscription, ConnectAccount, StripeEvent, VisitPayment

log = logging.getLogger(__name__)
STRIPE = Actor.payment_provider("stripe")
SYSTEM = Actor.system("payments")

#: Stripe subscription status → the clinic's status.
CLINIC_STATUS = {
    "trialing": clinic_status.TRIALING,
    "active": clinic_status.ACTIVE,
    "past_due": clinic_status.PAST_DUE,
    "unpaid": clinic_status.SUSPENDED,
    "canceled": clinic_status.SUSPENDED,
    "incomplete_expired": clinic_status.SUSPENDED,
}
#: Clinic states billing may move a clinic out of.
BILLABLE = frozenset(
    {clinic_status.TRIALING, clinic_status.ACTIVE, clinic_status.PAST_DUE, clinic_status.SUSPENDED}
)


def _ts(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def process_in(sess: Session, event_id: str) -> str | None:
    """Apply one stored event if nobody has, in ``sess``'s transaction (the caller commits).

    Returns the outcome, or None when the event is processed already or being processed.
    """
    row = sess.scalars(
        select(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.processed_at.is_(None))
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None
    outcome = apply(sess, row.payload)
    row.processed_at = utcnow()
    row.outcome = outcome[:200]
    sess.flush()
    log.info("stripe event %s (%s): %s", row.id, row.type, outcome)
    return outcome


def pending_ids(sess: Session, limit: int = 100) -> list[str]:
    """Events not applied yet, oldest first (for the sweep)."""
    return list(
        sess.scalars(
            select(StripeEvent.id)
            .where(StripeEvent.processed_at.is_(None))
            .order_by(StripeEvent.received_at)
            .limit(limit)
        )
    )


def apply(sess: Session, event: dict) -> str:
    """The effect of one event (the caller marks it processed in the same transaction)."""
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return "ignored: not handled"
    return handler(sess, event, event["data"]["object"])


# ----------------------------------------------------------------------------------------------
# Subscriptions (platform events)
# ----------------------------------------------------------------------------------------------


def _subscription_row(
    sess: Session, metadata: dict | None, customer: str | None
) -> tuple[Tenant, ClinicSubscription] | str:
    tenant_id = _uuid((metadata or {}).get("tenant_id"))
    if tenant_id is None:
        return "ignored: no clinic in metadata"
    # the clinic's row is locked first: events of one clinic apply one after another
    tenant = sess.get(Tenant, tenant_id, with_for_update=True, populate_existing=True)
    if tenant is None:
        return "ignored: unknown clinic"
    bind_tenant(sess, tenant.id)
    sub = sess.get(ClinicSubscription, tenant.id, with_for_update=True)
    if sub is None or not sub.stripe_customer_id or sub.stripe_customer_id != customer:
        return "ignored: customer does not match the clinic"
    return tenant, sub


def _apply_subscription_state(
    sess: Session, tenant: Tenant, sub: ClinicSubscription, obj: dict, created: int, why: str
) -> str:
    if created < sub.state_event_created:
        return "stale"
    sub.state_event_created = created
    sub.status = obj["status"]
    sub.stripe_subscription_id = obj["id"]
    if obj.get("trial_end") and obj["status"] == "trialing":
        # Stripe's trial is the clinic's trial (Checkout copied it from there)
        tenant.trial_ends_at = _ts(obj["trial_end"])
    sub.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    items = (obj.get("items") or {}).get("data") or []
    if items:
        sub.current_period_end = _ts(items[0].get("current_period_end"))
    if plan := (obj.get("metadata") or {}).get("plan"):
        sub.plan_code = plan
    sub.updated_at = utcnow()
    return _move_clinic(sess, tenant, sub.status, why)


def _move_clinic(sess: Session, tenant: Tenant, stripe_status: str, why: str) -> str:
    target = CLINIC_STATUS.get(stripe_status)
    if target is None or tenant.status not in BILLABLE:
        return f"applied ({stripe_status})"
    changed = clinic_status.change_status(sess, tenant, target, actor=STRIPE, reason=why)
    return f"applied ({stripe_status}{', clinic ' + target if changed else ''})"


def on_subscription(sess: Session, event: dict, obj: dict) -> str:
    """customer.subscription.created/updated/deleted: the subscription's state."""
    found = _subscription_row(sess, obj.get("metadata"), obj.get("customer"))
    if isinstance(found, str):
        return found
    tenant, sub = found
    if event["type"] == "customer.subscription.deleted":
        obj = {**obj, "status": "canceled"}
    return _apply_subscription_state(sess, tenant, sub, obj, event["created"], event["type"])


def on_invoice(sess: Session, event: dict, obj: dict) -> str:
    """invoice.paid / invoice.payment_failed: active again, or past due."""
    details = ((obj.get("parent") or {}).get("subscription_details")) or {}
    found = _subscription_row(sess, details.get("metadata"), obj.get("customer"))
    if isinstance(found, str):
        return found
    tenant, sub = found
    if details.get("subscription") != sub.stripe_subscription_id and sub.stripe_subscription_id:
        return "ignored: another subscription"
    if event["created"] < sub.state_event_created:
        return "stale"
    new = "active" if event["type"] == "invoice.paid" else "past_due"
    sub.state_event_created = event["created"]
    sub.status = new
    sub.updated_at = utcnow()
    audit.record(
        sess,
        tenant.id,
        f"billing.{event['type']}",
        actor=STRIPE,
        target=f"invoice:{obj['id']}",
        data={"amount_paid": obj.get("amount_paid"), "currency": obj.get("currency")},
    )
    return _move_clinic(sess, tenant, new, event["type"])


def on_checkout_completed(sess: Session, event: dict, obj: dict) -> str:
    """checkout.session.completed: a subscription began, or a visit was paid (Connect)."""
    if obj.get("mode") == "subscription":
        found = _subscription_row(sess, obj.get("metadata"), obj.get("customer"))
        if isinstance(found, str):
            return found
        tenant, sub = found
        sub.stripe_subscription_id = obj.get("subscription")
        if plan := (obj.get("metadata") or {}).get("plan"):
            sub.plan_code = plan
        audit.record(
            sess,
            tenant.id,
            "billing.subscribed",
            actor=STRIPE,
            target=f"subscription:{obj.get('subscription')}",
            data={"plan": sub.plan_code},
        )
        return "applied (subscribed)"
    return _visit_paid(sess, event, obj, obj.get("payment_intent"))


# ----------------------------------------------------------------------------------------------
# Connect: onboarding and visit payments
# ----------------------------------------------------------------------------------------------


def on_account_updated(sess: Session, event: dict, obj: dict) -> str:
    """account.updated: the clinic's onboarding state."""
    tenant_id = _uuid((obj.get("metadata") or {}).get("tenant_id"))
    if tenant_id is None or event.get("account") != obj.get("id"):
        return "ignored: no clinic in metadata"
    bind_tenant(sess, tenant_id)
    acct = sess.get(ConnectAccount, tenant_id, with_for_update=True)
    if acct is None or acct.account_id != event.get("account"):
        return "ignored: account does not match the clinic"
    if event["created"] < acct.state_event_created:
        return "stale"
    acct.state_event_created = event["created"]
    acct.details_submitted = bool(obj.get("details_submitted"))
    acct.charges_enabled = bool(obj.get("charges_enabled"))
    acct.payouts_enabled = bool(obj.get("payouts_enabled"))
    return "applied"


def _payment_row(
    sess: Session, event: dict, metadata: dict | None, **match
) -> tuple[Tenant, VisitPayment] | str:
    md = metadata or {}
    tenant_id, payment_id = _uuid(md.get("tenant_id")), _uuid(md.get("payment_id"))
    if tenant_id is None or payment_id is None:
        return "ignored: not a visit payment"
    tenant = sess.get(Tenant, tenant_id)
    if tenant is None:
        return "ignored: unknown clinic"
    bind_tenant(sess, tenant.id)
    pay = sess.scalars(
        select(VisitPayment)
        .where(VisitPayment.tenant_id == tenant.id, VisitPayment.id == payment_id)
        .with_for_update()
    ).first()
    if pay is None or pay.account_id != event.get("account"):
        return "ignored: payment does not match the account"
    for attr, value in match.items():
        if value is not None and getattr(pay, attr) not in (None, value):
            return f"ignored: {attr} does not match"
    return tenant, pay


def _visit_paid(sess: Session, event: dict, obj: dict, payment_intent: str | None) -> str:
    if obj["object"] == "checkout.session":
        found = _payment_row(sess, event, obj.get("metadata"), checkout_session_id=obj["id"])
    else:
        found = _payment_row(sess, event, obj.get("metadata"), payment_intent_id=obj["id"])
    if isinstance(found, str):
        return found
    tenant, pay = found
    if pay.status == "paid":
        return "already paid"
    pay.status = "paid"
    pay.payment_intent_id = payment_intent or pay.payment_intent_id
    pay.paid_at = utcnow()
    appt = sess.get(Appointment, (tenant.id, pay.appointment_id), with_for_update=True)
    audit.record(
        sess,
        tenant.id,
        "payment.received",
        actor=STRIPE,
        target=f"appointment:{pay.appointment_id}",
        data={"amount_minor": pay.amount_minor, "currency": pay.currency, "kind": pay.kind},
    )
    if appt is not None:
        # the emailed receipt, in the transaction that records the payment (and confirms)
        notify(
            sess,
            appt,
            "payment.receipt",
            payment_id=str(pay.id),
            amount_minor=pay.amount_minor,
            currency=pay.currency,
            kind=pay.kind,
            paid_at=pay.paid_at.isoformat(),
        )
    if appt is not None and appt.status in ("held", "expired"):
        try:
            with sess.begin_nested():
                confirm_appointment(sess, tenant, SYSTEM, appt, payment_ref=pay.payment_intent_id)
        except Exception as exc:  # noqa: BLE001 - the time was taken meanwhile: staff refund
            log.warning("paid appointment %s could not be confirmed: %s", appt.id, exc)
            return "applied (paid; time no longer free)"
    return "applied (paid)"


def on_payment_intent_succeeded(sess: Session, event: dict, obj: dict) -> str:
    """payment_intent.succeeded: the same as a completed checkout (whichever comes first)."""
    return _visit_paid(sess, event, obj, obj["id"])


def on_payment_failed(sess: Session, event: dict, obj: dict) -> str:
    """payment_intent.payment_failed: the attempt failed; the hold stays until it lapses."""
    found = _payment_row(sess, event, obj.get("metadata"))
    if isinstance(found, str):
        return found
    tenant, pay = found
    if pay.status != "open":
        return f"ignored: payment is {pay.status}"
    pay.status = "failed"
    pay.payment_intent_id = obj["id"]
    return "applied (failed)"


def on_checkout_expired(sess: Session, event: dict, obj: dict) -> str:
    """checkout.session.expired: the payment lapsed; the held time is released."""
    found = _payment_row(sess, event, obj.get("metadata"), checkout_session_id=obj["id"])
    if isinstance(found, str):
        return found
    tenant, pay = found
    if pay.status == "paid":
        return "ignored: already paid"
    pay.status = "expired"
    newer = sess.scalar(
        select(VisitPayment.id).where(
            VisitPayment.tenant_id == tenant.id,
            VisitPayment.appointment_id == pay.appointment_id,
            VisitPayment.attempt > pay.attempt,
        )
    )
    if newer is None:
        release_hold(sess, tenant, pay.appointment_id)
    return "applied (expired)"


def on_refund(sess: Session, event: dict, obj: dict) -> str:
    """refund.created / refund.updated: one refund's status (:mod:`billing.refunds`)."""
    from .refunds import apply_refund_event

    found = _payment_row(sess, event, obj.get("metadata"), payment_intent_id=obj["payment_intent"])
    if isinstance(found, str):
        return found
    tenant, pay = found
    return apply_refund_event(sess, tenant, pay, obj, event["created"], STRIPE)


def on_charge_refunded(sess: Session, event: dict, obj: dict) -> str:
    """charge.refunded: what Stripe refunded of the charge in all (ours, or made at Stripe).

    A charge carries no metadata of ours, so its payment intent is fetched again (on the
    event's connected account) for the clinic and payment it names.
    """
    from . import gateway
    from .refunds import apply_charge_refunded

    account = event.get("account")
    if not account or not obj.get("payment_intent"):
        return "ignored: not a visit payment"
    pi = gateway.call(
        gateway.client().v1.payment_intents.retrieve,
        obj["payment_intent"],
        options={"stripe_account": account},
    )
    found = _payment_row(sess, event, dict(pi.metadata or {}), payment_intent_id=pi.id)
    if isinstance(found, str):
        return found
    tenant, pay = found
    return apply_charge_refunded(sess, tenant, pay, obj, STRIPE)


HANDLERS = {
    "refund.created": on_refund,
    "refund.updated": on_refund,
    "charge.refunded": on_charge_refunded,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "invoice.paid": on_invoice,
    "invoice.payment_failed": on_invoice,
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "account.updated": on_account_updated,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "payment_intent.payment_failed": on_payment_failed,
}
