"""The owner's billing page: plan, status, trial, Checkout, customer portal, Connect onboarding.

``/console/billing`` (``billing.manage``: owners). Each action is a POST that calls a service
and redirects to Stripe (Checkout, the customer portal, Express onboarding); Stripe sends the
owner back here and the webhooks bring the new state.
"""

from __future__ import annotations

import decimal
import uuid

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from saas import db
from saas.actors import Actor
from saas.errors import form_errors, status_of
from saas.exceptions import DomainError, Invalid
from saas.money import format_price
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import refunds, services
from .limits import limits_for

bp = serve_on(
    Blueprint("billing", __name__, url_prefix="/console/billing", template_folder="templates"),
    CLINIC,
)
#: Staff refunds of visit payments (``payments.refund``: owners and admins).
payments_bp = serve_on(
    Blueprint("payments", __name__, url_prefix="/console/payments", template_folder="templates"),
    CLINIC,
)


@bp.app_template_global("billing_grace_ends")
def billing_grace_ends(tenant):
    """When a past-due clinic is suspended (the console's banner), or None."""
    from .lifecycle import grace_ends

    return grace_ends(tenant) if tenant is not None else None


def _here(**kw) -> str:
    return url_for("billing.page", _external=True, **kw)


@bp.get("/")
@requires("billing.manage")
def page():
    """Plan, status, trial end, next renewal, Connect state, and the actions."""
    sess = db.session()
    sub = services.subscription_for(sess, g.tenant)
    return render_template(
        "billing/page.html",
        sub=sub,
        plans=services.plans(sess),
        plan=next((p for p in services.plans(sess) if p.code == sub.plan_code), None),
        account=services.connect_account_for(sess, g.tenant),
        limits=limits_for(sess, g.tenant),
        form=FlaskForm(),
        returned=request.args.get("returned"),
    )


def _act(fn):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("billing.page"))
    try:
        url = fn(db.session(), g.tenant, Actor.for_staff(current_user))
    except DomainError as exc:
        db.refuse_request()
        flash(exc.message, "error")
        return redirect(url_for("billing.page"))
    return redirect(url, code=303)


@bp.post("/subscribe")
@requires("billing.manage")
def subscribe():
    """Start Stripe Checkout for the chosen plan."""
    plan = request.form.get("plan", "")
    return _act(
        lambda sess, tenant, actor: services.start_subscription_checkout(
            sess,
            tenant,
            actor,
            plan,
            success_url=_here(returned="subscribed"),
            cancel_url=_here(),
        )
    )


@bp.post("/portal")
@requires("billing.manage")
def portal():
    """Open Stripe's customer portal (cards, invoices, plan changes, cancellation)."""
    return _act(
        lambda sess, tenant, actor: services.billing_portal_url(
            sess, tenant, actor, return_url=_here()
        )
    )


@bp.post("/connect")
@requires("billing.manage")
def connect():
    """Start or finish Stripe Connect onboarding."""
    return _act(
        lambda sess, tenant, actor: services.onboarding_link(
            sess, tenant, actor, return_url=_here(returned="connect"), refresh_url=_here()
        )
    )


# ----------------------------------------------------------------------------------------------
# Staff refunds
# ----------------------------------------------------------------------------------------------


class RefundForm(FlaskForm):
    """Refund part or all of a visit payment."""

    amount = StringField(
        "Amount to refund",
        validators=[InputRequired("Enter the amount to refund.")],
        description="In the clinic's currency, e.g. 25.00",
    )
    reason = TextAreaField(
        "Reason",
        validators=[
            InputRequired("Enter the reason for the refund."),
            Length(max=refunds.MAX_REASON, message="Use at most 500 characters."),
        ],
    )


def _minor(text: str) -> int:
    """``"25.50"`` → 2550; Invalid naming the amount field otherwise."""
    try:
        value = decimal.Decimal((text or "").strip().replace(",", "."))
    except decimal.InvalidOperation as exc:
        raise Invalid({"amount": "Enter an amount like 25.00."}) from exc
    if not value.is_finite() or value != value.quantize(decimal.Decimal("0.01")):
        raise Invalid({"amount": "Enter an amount like 25.00."})
    return int(value * 100)


@payments_bp.route("/<uuid:payment_id>/refund", methods=["GET", "POST"])
@requires("payments.refund")
def refund(payment_id: uuid.UUID):
    """A payment, its refunds so far, and the form to refund part or all of what is left."""
    sess = db.session()
    pay = refunds.payment_or_404(sess, g.tenant, payment_id, lock=request.method == "POST")
    form = RefundForm()
    summary, status = None, 200
    if form.validate_on_submit():
        try:
            amount = _minor(form.amount.data)
            done = refunds.create_refund(
                sess,
                g.tenant,
                pay,
                amount,
                kind="staff",
                reason=form.reason.data,
                actor=Actor.for_staff(current_user),
            )
        except DomainError as exc:
            if "amount_minor" in exc.errors:
                exc.errors["amount"] = exc.errors.pop("amount_minor")
            summary, status = form_errors(form, exc), status_of(exc)
        else:
            flash(
                f"Refund of {format_price(done.amount_minor, done.currency)} requested; "
                "it shows as refunded once Stripe confirms it.",
                "success",
            )
            return redirect(url_for("calendar.appointment", appointment_id=pay.appointment_id))
    elif form.errors:
        status = 422
    return render_template(
        "billing/refund.html",
        pay=pay,
        form=form,
        summary=summary,
        refunds=refunds.refunds_of(sess, g.tenant.id, pay.id),
        left=refunds.remaining(pay),
        price=format_price,
    ), status
