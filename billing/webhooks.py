"""Stripe webhook endpoints: verify, store, hand to the worker — in milliseconds.

``POST /stripe/webhook`` receives the platform's own events (subscriptions, invoices) and
``POST /stripe/connect-webhook`` the events of clinics' connected accounts (onboarding,
visit payments); each has its own signing secret.

Decisions (as Warehouse's ``api/billing.py``: verify first, then store, then dispatch):

- The signature is checked with ``stripe.Webhook.construct_event`` (HMAC of ``t.payload``,
  timestamp within 5 minutes); anything else is a 400 and nothing is written.
- The event is inserted by its id with ``ON CONFLICT DO NOTHING`` (never select-then-insert):
  a replay, sequential or concurrent, finds the row and adds nothing. After commit a worker
  is kicked (:func:`billing.events.process_event`); the periodic sweep picks up an event whose
  kick was lost. Effects are applied by the worker in one transaction with marking the event
  processed, so each event takes effect once.
- A Connect event on the platform endpoint (or the reverse) is refused: the secrets differ,
  and the ``account`` field must match the endpoint.
- CSRF is exempt for these two URLs only (Stripe signs instead of a cookie session).
"""

from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.dialects.postgresql import insert

from saas import db, queue
from saas.web import PLATFORM, serve_on

from .models import StripeEvent

log = logging.getLogger(__name__)

bp = serve_on(Blueprint("stripe_webhooks", __name__), PLATFORM)

#: Seconds a signature's timestamp may be away from now (Stripe's default).
TOLERANCE = 300


def _receive(secret: str | None, *, connect: bool):
    if not secret:
        return jsonify(message="Webhooks are not configured."), 503
    payload = request.get_data()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("Stripe-Signature", ""), secret, tolerance=TOLERANCE
        )
    except (ValueError, stripe.SignatureVerificationError):
        return jsonify(message="Invalid signature."), 400
    account = event.get("account")
    if bool(account) != connect:
        return jsonify(message="This event belongs to the other endpoint."), 400
    data = json.loads(payload)
    sess = db.session()
    inserted = sess.execute(
        insert(StripeEvent)
        .values(
            id=event.id,
            type=event.type,
            account=account,
            created=int(event.created),
            payload=data,
            outcome="",
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    ).first()
    if inserted:
        db.after_commit(
            sess, f"stripe:{event.id}", lambda: queue.send("process_stripe_event", event.id)
        )
    return jsonify(received=True, duplicate=inserted is None), 200


@bp.post("/stripe/webhook")
def platform_webhook():
    """Events of the platform's own Stripe account (subscriptions, invoices)."""
    return _receive(current_app.config["SIMILIA"].stripe_webhook_secret, connect=False)


@bp.post("/stripe/connect-webhook")
def connect_webhook():
    """Events of clinics' connected accounts (onboarding, visit payments)."""
    return _receive(current_app.config["SIMILIA"].stripe_connect_webhook_secret, connect=True)
