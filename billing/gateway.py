"""The one way the product talks to Stripe: an official ``stripe.StripeClient`` from config.

With ``STRIPE_API_BASE`` set (the local test server, :mod:`billing.stripe_server`) the client's
API base address points there; without it, at Stripe. Every write passes an idempotency key
derived from our own records (:func:`idem`), so a retry after a timeout or a 500 repeats the
same request and Stripe (or the test server) answers it once.

Decisions:

- Two network retries with the same key (the library retries 409/5xx/timeouts and keeps the
  idempotency key it was given); a short timeout keeps a request thread from hanging.
- ``stripe_account`` for Connect calls goes in the request options (``Stripe-Account``).
"""

from __future__ import annotations

import functools

import stripe
from flask import current_app

from saas.exceptions import Unavailable

TIMEOUT_SECONDS = 5
MAX_RETRIES = 2


class PaymentsUnavailable(Unavailable):
    """Stripe is not configured or did not answer; nothing was charged."""

    default_reason = "payments_unavailable"


def _config():
    return current_app.config["SIMILIA"]


@functools.lru_cache(maxsize=8)
def _client(key: str, base: str | None, timeout: float) -> stripe.StripeClient:
    http = stripe.RequestsClient(timeout=timeout)
    kwargs = {"base_addresses": {"api": base}} if base else {}
    return stripe.StripeClient(
        key, http_client=http, max_network_retries=MAX_RETRIES, **kwargs
    )


def client() -> stripe.StripeClient:
    """The configured client (raises :class:`PaymentsUnavailable` when Stripe is not set up)."""
    cfg = _config()
    if not cfg.stripe_secret_key:
        raise PaymentsUnavailable("Payments are not configured on this platform.")
    timeout = cfg.extra.get("stripe_timeout", TIMEOUT_SECONDS)
    return _client(cfg.stripe_secret_key, cfg.stripe_api_base, timeout)


def idem(*parts: object) -> str:
    """An idempotency key from our own records, e.g. ``idem("visit", appt.id, attempt)``."""
    return "similia:" + ":".join(str(p) for p in parts)


def options(key: str, account: str | None = None) -> dict:
    """Request options: the idempotency key and, for Connect, the connected account."""
    opts: dict = {"idempotency_key": key}
    if account:
        opts["stripe_account"] = account
    return opts


def call(fn, *args, **kwargs):
    """Run a Stripe call; a connection failure or 5xx becomes :class:`PaymentsUnavailable`."""
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        raise PaymentsUnavailable(
            "The payment provider did not answer. Nothing was charged; please try again."
        ) from exc
