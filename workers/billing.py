"""Billing actors: apply verified Stripe events (stored by the webhook endpoints).

Each event is applied in its own transaction together with marking it processed
(:func:`billing.events.process_in`), so it takes effect once however often it is kicked.
"""

from __future__ import annotations

import dramatiq

from saas.db import tenant_session

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app


def process_event(event_id: str) -> str | None:
    """Apply one stored event; its outcome, or None when it was applied already."""
    # imported when an event arrives: booting a worker loads no feature package
    from billing.events import process_in

    with tenant_session(None) as sess:
        return process_in(sess, event_id)


def process_pending(limit: int = 100) -> int:
    """Apply pending events, oldest first; returns how many this call applied."""
    from billing.events import pending_ids

    with tenant_session(None) as sess:
        ids = pending_ids(sess, limit)
    return sum(1 for event_id in ids if process_event(event_id) is not None)


@dramatiq.actor(queue_name="billing", max_retries=5)
@in_app
def process_stripe_event(event_id: str) -> None:
    """Apply one stored event (a no-op when another worker did, or it was already applied)."""
    process_event(event_id)


@dramatiq.actor(queue_name="billing", max_retries=0)
@in_app
def sweep_stripe_events() -> None:
    """Apply events whose kick was lost (run by the scheduler)."""
    process_pending()


@dramatiq.actor(queue_name="billing", max_retries=0)
@in_app
def sweep_billing_status() -> None:
    """Trials that ended, past-due grace that ran out, payments that came (hourly)."""
    from billing.lifecycle import sweep

    sweep()


def run_refund(tenant_id: str, refund_id: str):
    """Send one refund to Stripe in its own transaction (the key is the refund's id)."""
    from billing.refunds import send_refund
    from saas.models import Tenant

    with tenant_session(tenant_id) as sess:
        tenant = sess.get(Tenant, tenant_id)
        return None if tenant is None else send_refund(sess, tenant, refund_id)


@dramatiq.actor(queue_name="billing", max_retries=10, min_backoff=5_000, max_backoff=600_000)
@in_app
def send_refund(tenant_id: str, refund_id: str) -> None:
    """Ask Stripe for a refund decided in a committed transaction; retried with the same key."""
    run_refund(tenant_id, refund_id)


def run_trial_sync(tenant_id: str) -> str | None:
    """Move the clinic's Stripe trial to its trial end, in its own transaction."""
    from billing.services import sync_trial as sync
    from saas.models import Tenant

    with tenant_session(tenant_id) as sess:
        tenant = sess.get(Tenant, tenant_id)
        return None if tenant is None else sync(sess, tenant)


@dramatiq.actor(queue_name="billing", max_retries=10, min_backoff=5_000, max_backoff=600_000)
@in_app
def sync_trial(tenant_id: str) -> None:
    """After an operator extended a trial: Stripe's trial follows (retried with the same key)."""
    run_trial_sync(tenant_id)
