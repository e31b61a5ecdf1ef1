"""Refunds of visit payments: by the clinic's policy on cancellation and no-show, and by staff.

Every refund is a row (:class:`billing.models.Refund`) written in the transaction that
decides it, and sent to Stripe after commit by a job (``send_refund``) with the idempotency
key ``idem("refund", refund.id)``: a retry after a timeout or a 500, by the library or by the
job, repeats the same request and Stripe refunds once. Webhooks reconcile it
(``refund.created``/``refund.updated``: the refund's status; ``charge.refunded``: what
Stripe says was refunded of the charge, including refunds made in Stripe's dashboard).

Decisions:

- **Policy.** Cancelling inside the clinic's rules (before the cutoff, or by staff without
  charging the fee) refunds everything paid online; a late cancellation or a no-show keeps
  the fee the clinic configured (``appointments.fee_minor``) and refunds the rest. A fee
  larger than what was paid keeps all of it (nothing more is charged online).
- **Staff** (``payments.refund``: owners and admins) refund part or all of what is left,
  with a reason. More than is left is refused (422 naming ``amount_minor``).
- **Reserved at once.** ``visit_payments.amount_refunded_minor`` counts refunds not failed
  or canceled, so a second refund can never exceed what is left while the first is on its
  way; a failed refund gives its amount back. The payment's row is locked while deciding.
  The revenue report nets it.
- Every refund is audited (``payment.refund_requested``, ``payment.refund_<status>``).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit, jobs
from saas.actors import Actor
from saas.db import bind_tenant
from saas.exceptions import Conflict, Invalid, NotFound
from saas.models import Tenant, utcnow

from . import gateway
from .models import Refund, VisitPayment

log = logging.getLogger(__name__)
MAX_REASON = 500
#: Refund statuses that give money back (or will).
LIVE = ("pending", "succeeded")


def remaining(pay: VisitPayment) -> int:
    """What can still be refunded of a payment (minor units)."""
    return max(0, pay.amount_minor - (pay.amount_refunded_minor or 0))


def payment_or_404(
    sess: Session, tenant: Tenant, payment_id, *, lock: bool = False
) -> VisitPayment:
    """The clinic's payment (another clinic's id is 404, as a missing one)."""
    try:
        pid = uuid.UUID(str(payment_id))
    except ValueError as exc:
        raise NotFound("No such payment.") from exc
    bind_tenant(sess, tenant.id)
    query = select(VisitPayment).where(VisitPayment.tenant_id == tenant.id, VisitPayment.id == pid)
    if lock:
        query = query.with_for_update()
    pay = sess.scalars(query).first()
    if pay is None:
        raise NotFound("No such payment.")
    return pay


def refunds_of(sess: Session, tenant_id, payment_id) -> list[Refund]:
    """A payment's refunds, oldest first."""
    return list(
        sess.scalars(
            select(Refund)
            .where(Refund.tenant_id == tenant_id, Refund.payment_id == payment_id)
            .order_by(Refund.created_at, Refund.id)
        )
    )


def create_refund(
    sess: Session,
    tenant: Tenant,
    pay: VisitPayment,
    amount_minor,
    *,
    kind: str,
    reason: str,
    actor: Actor,
) -> Refund:
    """Decide a refund of ``amount_minor`` (the caller locked ``pay``); sent after commit."""
    reason = (reason or "").strip()
    if pay.status not in ("paid", "refunded") or not pay.payment_intent_id:
        raise Conflict("Only a payment that was received can be refunded.", reason="not_paid")
    left = remaining(pay)
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise Invalid({"amount_minor": "Enter an amount greater than zero."})
    if amount_minor > left:
        raise Invalid(
            {"amount_minor": f"At most {left} (what is left of the payment) can be refunded."},
            reason="over_refund",
        )
    if kind == "staff" and not reason:
        raise Invalid({"reason": "Enter the reason for the refund."})
    if len(reason) > MAX_REASON:
        raise Invalid({"reason": f"Use at most {MAX_REASON} characters."})
    refund = Refund(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        payment_id=pay.id,
        amount_minor=amount_minor,
        currency=pay.currency,
        kind=kind,
        reason=reason,
        status="pending",
        created_by=actor.label[:200],
        state_event_created=0,
    )
    sess.add(refund)
    pay.amount_refunded_minor = (pay.amount_refunded_minor or 0) + amount_minor
    if remaining(pay) == 0:
        pay.status = "refunded"
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "payment.refund_requested",
        actor=actor,
        target=f"appointment:{pay.appointment_id}",
        data={
            "refund_id": str(refund.id),
            "payment_id": str(pay.id),
            "amount_minor": amount_minor,
            "currency": pay.currency,
            "kind": kind,
            "reason": reason,
        },
    )
    jobs.enqueue(sess, tenant.id, "send_refund", refund_id=str(refund.id))
    return refund


def _paid(sess: Session, tenant: Tenant, appointment_id, *, lock: bool) -> list[VisitPayment]:
    query = (
        select(VisitPayment)
        .where(
            VisitPayment.tenant_id == tenant.id,
            VisitPayment.appointment_id == appointment_id,
            VisitPayment.status == "paid",
        )
        .order_by(VisitPayment.attempt)
    )
    return list(sess.scalars(query.with_for_update() if lock else query))


def _policy_split(pays: list[VisitPayment], fee_minor: int) -> list[tuple[VisitPayment, int, int]]:
    """``(payment, kept, refunded)`` for each payment with something to refund.

    The fee is kept from the first payments; a fee larger than what was paid keeps it all.
    """
    keep = max(0, fee_minor or 0)
    out = []
    for pay in pays:
        left = remaining(pay)
        kept = min(keep, left)
        keep -= kept
        if left - kept > 0:
            out.append((pay, kept, left - kept))
    return out


def policy_refund_preview(sess: Session, tenant: Tenant, appointment_id, fee_minor: int):
    """What a cancellation keeping ``fee_minor`` would send back: ``(amount, currency)``.

    None when nothing was paid online for the visit. The same split as
    :func:`refund_by_policy`, so the page tells the patient what will happen.
    """
    pays = _paid(sess, tenant, appointment_id, lock=False)
    if not pays:
        return None
    return sum(amount for _, _, amount in _policy_split(pays, fee_minor)), pays[0].currency


def refund_by_policy(sess: Session, tenant: Tenant, appt, actor: Actor) -> list[Refund]:
    """After a cancellation or no-show: refund what was paid online, less the fee kept."""
    pays = _paid(sess, tenant, appt.id, lock=True)
    made = []
    for pay, kept, amount in _policy_split(pays, appt.fee_minor):
        if appt.status == "no_show":
            why = "No-show: the clinic's fee is kept, the rest refunded."
        elif kept:
            why = "Late cancellation: the clinic's fee is kept, the rest refunded."
        else:
            why = "Cancelled within the clinic's rules: refunded in full."
        made.append(
            create_refund(sess, tenant, pay, amount, kind="policy", reason=why, actor=actor)
        )
    return made


def send_refund(sess: Session, tenant: Tenant, refund_id) -> Refund | None:
    """Ask Stripe for the refund (once: the key is the refund's id); its row updated.

    Raises :class:`billing.gateway.PaymentsUnavailable` when Stripe did not answer: the job
    is retried later with the same key.
    """
    bind_tenant(sess, tenant.id)
    refund = sess.scalars(
        select(Refund)
        .where(Refund.tenant_id == tenant.id, Refund.id == uuid.UUID(str(refund_id)))
        .with_for_update()
    ).first()
    if refund is None or refund.stripe_refund_id:
        return refund
    pay = sess.get(VisitPayment, (tenant.id, refund.payment_id))
    answer = gateway.call(
        gateway.client().v1.refunds.create,
        params={
            "payment_intent": pay.payment_intent_id,
            "amount": refund.amount_minor,
            "reason": "requested_by_customer",
            "metadata": {
                "tenant_id": str(tenant.id),
                "payment_id": str(pay.id),
                "refund_id": str(refund.id),
            },
        },
        options=gateway.options(gateway.idem("refund", refund.id), pay.account_id),
    )
    refund.stripe_refund_id = answer.id
    _set_status(sess, tenant, pay, refund, answer.status, Actor.system("payments"))
    return refund


def _set_status(
    sess: Session, tenant: Tenant, pay: VisitPayment, refund: Refund, status: str, actor: Actor
) -> None:
    if status == refund.status or status not in ("pending", "succeeded", "failed", "canceled"):
        return
    was_live = refund.status in LIVE
    refund.status, refund.updated_at = status, utcnow()
    if was_live and status not in LIVE:
        # the money did not go back: what was reserved for it can be refunded again
        pay.amount_refunded_minor = max(0, pay.amount_refunded_minor - refund.amount_minor)
        if pay.status == "refunded" and remaining(pay) > 0:
            pay.status = "paid"
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        f"payment.refund_{status}",
        actor=actor,
        target=f"appointment:{pay.appointment_id}",
        data={
            "refund_id": str(refund.id),
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
        },
    )


def apply_refund_event(
    sess: Session, tenant: Tenant, pay: VisitPayment, obj: dict, created: int, actor: Actor
) -> str:
    """``refund.created``/``refund.updated``: the refund's status (older events change nothing)."""
    refund_id = (obj.get("metadata") or {}).get("refund_id")
    try:
        rid = uuid.UUID(str(refund_id))
    except ValueError:
        return "ignored: not our refund"
    refund = sess.scalars(
        select(Refund)
        .where(Refund.tenant_id == tenant.id, Refund.id == rid, Refund.payment_id == pay.id)
        .with_for_update()
    ).first()
    if refund is None:
        return "ignored: unknown refund"
    if refund.stripe_refund_id not in (None, obj["id"]):
        return "ignored: refund id does not match"
    if created < refund.state_event_created:
        return "stale"
    refund.stripe_refund_id = obj["id"]
    refund.state_event_created = created
    _set_status(sess, tenant, pay, refund, obj["status"], actor)
    return f"applied (refund {obj['status']})"


def apply_charge_refunded(
    sess: Session, tenant: Tenant, pay: VisitPayment, charge: dict, actor: Actor
) -> str:
    """``charge.refunded``: Stripe's total; a refund made outside Similia is recorded too."""
    at_stripe = int(charge.get("amount_refunded") or 0)
    ours = int(pay.amount_refunded_minor or 0)
    if at_stripe <= ours:
        return "applied (matches)"
    pay.amount_refunded_minor = min(pay.amount_minor, at_stripe)
    if remaining(pay) == 0:
        pay.status = "refunded"
    audit.record(
        sess,
        tenant.id,
        "payment.refunded_at_stripe",
        actor=actor,
        target=f"appointment:{pay.appointment_id}",
        data={"amount_minor": at_stripe - ours, "currency": pay.currency, "charge": charge["id"]},
    )
    return "applied (refund made at Stripe)"
