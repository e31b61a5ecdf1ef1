"""The owner's billing page: plan, status, trial, Checkout, customer portal, Connect onboarding.

``/console/billing`` (``billing.manage``: owners). Each action is a POST that calls a service
and redirects to Stripe (Checkout, the customer portal, Express onboarding); Stripe sends the
owner back here and the webhooks bring the new state.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from saas import db
from saas.actors import Actor
from saas.exceptions import DomainError
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import services
from .limits import limits_for

bp = serve_on(
    Blueprint("billing", __name__, url_prefix="/console/billing", template_folder="templates"),
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
