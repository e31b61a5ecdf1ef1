"""A local Stripe test server: the endpoints Similia calls, in Stripe's shapes and conventions.

``python -m billing.stripe_server --port N --webhook-secret whsec_... --connect-secret whsec_...``
(started by :class:`saas.devservices.StripeServer` for ``make run`` and ``make test`` when no
``STRIPE_SECRET_KEY`` is configured). The official ``stripe`` library talks to it through
``StripeClient(..., base_addresses={"api": url})``; nothing in the product knows it is local.

What it speaks (only what the product calls):

- form-encoded parameters with brackets (``metadata[k]``, ``line_items[0][price_data][...]``,
  ``expand[]`` / ``expand[0]``); answers are JSON objects shaped like Stripe's own
  (``tests/billing/stripe_fixtures3.json`` keeps them honest, see ``test_stripe_shapes``);
- errors as Stripe's error objects (``{"error": {"type", "code", "message", "param"}}``) with
  its status codes: 400 bad parameter, 401 no key, 404 ``resource_missing``;
- ``Idempotency-Key``: the same key with the same parameters replays the first answer
  (``Idempotent-Replayed: true``); with other parameters, 400 ``idempotency_error``;
- ``Stripe-Account``: objects made for a connected account are visible only with its header;
- list pagination (``limit``, ``starting_after``, ``has_more``), newest first.

Endpoints: customers, checkout sessions (+ expire, list), billing portal sessions,
subscriptions (retrieve, update, cancel), accounts, account links, payment intents, refunds.

Test controls (not Stripe's; under ``/_test``) act as the customer or Stripe would — complete or
decline a checkout, fail or pay a subscription's invoice, finish Connect onboarding — and answer
with the webhook events they caused, each signed exactly as Stripe signs
(``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``). The events are
also POSTed to ``--forward-to`` / ``--forward-connect-to`` when given (``make run``).
``/_test/faults`` injects failures: answer 500 (after doing the work, as when a response is
lost) or stall past the client's timeout, for the next N matching requests. A minimal hosted
checkout page (``/checkout/<id>``) lets a person pay or decline.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import html
import itertools
import json
import logging
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

logger = logging.getLogger("similia.stripe_server")

JSONDict = dict[str, Any]
#: Checkout sessions expire after this long unless ``expires_at`` says otherwise (Stripe: 24h).
SESSION_TTL = 24 * 3600


class StripeError(Exception):
    """An error answered as Stripe's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status,
            message,
            type_,
            code,
            param,
        )

    def body(self) -> JSONDict:
        """Stripe's error object."""
        err: JSONDict = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
        if self.param:
            err["param"] = self.param
        return {"error": err}


def missing(kind: str, ident: str, param: str = "id") -> StripeError:
    """404 ``resource_missing``, as Stripe words it."""
    return StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


def required(param: str) -> StripeError:
    """400 ``parameter_missing``."""
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


# ----------------------------------------------------------------------------------------------
# Form decoding: Stripe's bracket notation
# ----------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def decode_params(pairs: list[tuple[str, str]]) -> JSONDict:
    """``a[b][0][c]=v`` pairs → nested dicts and lists (``[]`` and ``[0]`` both make lists)."""
    root: JSONDict = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *_SEGMENT.findall(key[len(head) :])]
        node: Any = root
        for i, seg in enumerate(path):
            last = i == len(path) - 1
            if seg == "":
                seg = str(len(node))
            if last:
                node[seg] = value
            else:
                node = node.setdefault(seg, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _int(params: JSONDict, name: str, *, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        ) from None


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


# ----------------------------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------------------------


class State:
    """Everything the server knows, guarded by one lock."""

    def __init__(self, base_url: str, secret: str, connect_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.connect_secret = connect_secret
        self.lock = threading.RLock()
        #: id → (account or None for the platform, object)
        self.objects: dict[str, tuple[str | None, JSONDict]] = {}
        self.order = itertools.count()
        self.seq: dict[str, int] = {}
        #: (account, Idempotency-Key) → (method path, params, status, body)
        self.idempotency: dict[tuple[str | None, str], tuple[str, JSONDict, int, bytes]] = {}
        self.faults: list[JSONDict] = []
        self.requests: list[JSONDict] = []
        self.events: list[JSONDict] = []
        self._clock = 0
        self.forward_to: str | None = None
        self.forward_connect_to: str | None = None

    def now(self) -> int:
        """Seconds since the epoch, strictly increasing (so events order by ``created``)."""
        with self.lock:
            self._clock = max(int(time.time()), self._clock + 1)
            return self._clock

    def new_id(self, prefix: str) -> str:
        """An id in Stripe's style (``cus_...``, ``cs_test_...``)."""
        return f"{prefix}_{secrets.token_hex(12)}"

    def put(self, obj: JSONDict, account: str | None) -> JSONDict:
        """Store ``obj`` (for ``account``, or the platform)."""
        self.objects[obj["id"]] = (account, obj)
        self.seq[obj["id"]] = next(self.order)
        return obj

    def get(self, ident: str, kind: str, account: str | None, *, obj_type: str) -> JSONDict:
        """The stored object, or Stripe's 404 (also for another account's object)."""
        found = self.objects.get(ident)
        if found is None or found[0] != account or found[1]["object"] != obj_type:
            raise missing(kind, ident)
        return found[1]

    def owner(self, ident: str) -> str | None:
        """The account an object belongs to."""
        return self.objects[ident][0]

    # -- events -----------------------------------------------------------------------------

    def event(
        self,
        type_: str,
        obj: JSONDict,
        account: str | None,
        previous: JSONDict | None = None,
    ) -> JSONDict:
        """Record an event about ``obj`` (a snapshot) and return it signed for delivery."""
        event: JSONDict = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2025-10-29.clover",
            "created": self.now(),
            "data": {"object": copy.deepcopy(_public(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        if previous:
            event["data"]["previous_attributes"] = previous
        if account:
            event["account"] = account
        self.put(event, account)
        return self.signed(event)

    def signed(self, event: JSONDict) -> JSONDict:
        """The event as delivered: payload bytes, ``Stripe-Signature`` and which endpoint."""
        payload = json.dumps(event, indent=2)
        connect = "account" in event
        secret = self.connect_secret if connect else self.secret
        signed = {
            "id": event["id"],
            "type": event["type"],
            "connect": connect,
            "payload": payload,
            "signature": sign(payload, secret),
        }
        self.events.append(signed)
        return signed

    def deliver(self, events: list[JSONDict]) -> None:
        """POST events to the forward URLs (in the background), when configured."""
        for ev in events:
            url = self.forward_connect_to if ev["connect"] else self.forward_to
            if url:
                threading.Thread(target=_post_event, args=(url, ev), daemon=True).start()


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` header for ``payload``, exactly as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _post_event(url: str, ev: JSONDict) -> None:
    for attempt in range(5):
        req = urllib.request.Request(
            url,
            data=ev["payload"].encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": ev["signature"]},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                if resp.status < 300:
                    return
        except Exception as exc:  # noqa: BLE001 - retried like Stripe does
            logger.info("webhook %s to %s failed: %s", ev["id"], url, exc)
        time.sleep(1 + attempt * 2)


# ----------------------------------------------------------------------------------------------
# Object builders (keys and types as in Stripe's fixtures)
# ----------------------------------------------------------------------------------------------


def _customer(st: State, p: JSONDict) -> JSONDict:
    return {
        "id": st.new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": st.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": p.get("description"),
        "discount": None,
        "email": p.get("email"),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(p.get("metadata") or {}),
        "name": p.get("name"),
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _line_items(p: JSONDict, mode: str) -> list[JSONDict]:
    items = p.get("line_items")
    if not items or not isinstance(items, list):
        raise required("line_items")
    out = []
    for i, item in enumerate(items):
        data = item.get("price_data") if isinstance(item, dict) else None
        if not isinstance(data, dict):
            raise required(f"line_items[{i}][price_data]")
        for name in ("currency", "unit_amount"):
            if not data.get(name):
                raise required(f"line_items[{i}][price_data][{name}]")
        recurring = data.get("recurring")
        if mode == "subscription" and not recurring:
            raise StripeError(
                400,
                "You must specify at least one recurring price in `subscription` mode.",
                param=f"line_items[{i}][price_data][recurring]",
            )
        if mode == "payment" and recurring:
            raise StripeError(
                400,
                "You specified `payment` mode but passed a recurring price.",
                param=f"line_items[{i}][price_data][recurring]",
            )
        out.append(
            {
                "currency": data["currency"].lower(),
                "unit_amount": _int(data, "unit_amount"),
                "quantity": _int(item, "quantity", default=1),
                "name": (data.get("product_data") or {}).get("name", ""),
                "recurring": recurring,
                "metadata": (data.get("product_data") or {}).get("metadata") or {},
            }
        )
    return out


def _session(st: State, p: JSONDict, account: str | None) -> JSONDict:
    mode = p.get("mode")
    if mode not in ("payment", "subscription"):
        raise StripeError(
            400, "Invalid mode: must be one of payment, setup, or subscription", param="mode"
        )
    if not p.get("success_url"):
        raise required("success_url")
    items = _line_items(p, mode)
    pi_data = p.get("payment_intent_data") or {}
    fee = _int(pi_data, "application_fee_amount")
    if fee is not None and account is None:
        raise StripeError(
            400,
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
            "direct payment (using an OAuth key or Stripe-Account header) or destination "
            "payment (using `transfer_data[destination]`).",
            param="payment_intent_data[application_fee_amount]",
        )
    if mode == "subscription" and account is not None:
        raise StripeError(400, "Subscriptions are billed on the platform here.", param="mode")
    customer = p.get("customer")
    if customer:
        st.get(customer, "customer", account, obj_type="customer")
    now = st.now()
    expires_at = _int(p, "expires_at", default=now + SESSION_TTL)
    total = sum(i["unit_amount"] * i["quantity"] for i in items)
    sid = st.new_id("cs_test")
    return {
        "id": sid,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": p.get("cancel_url"),
        "client_reference_id": p.get("client_reference_id"),
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": items[0]["currency"],
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_creation": None if customer else "if_required",
        "customer_details": None,
        "customer_email": p.get("customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": p.get("locale"),
        "metadata": dict(p.get("metadata") or {}),
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": p["success_url"],
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{st.base_url}/checkout/{sid}",
        # not part of Stripe's object: kept to build the payment / subscription later
        "_items": items,
        "_payment_intent_data": pi_data,
        "_subscription_data": p.get("subscription_data") or {},
    }


def _public(obj: JSONDict) -> JSONDict:
    """The object without the server's private ``_`` keys."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _payment_intent(st: State, session: JSONDict, status: str) -> JSONDict:
    pi_data = session["_payment_intent_data"]
    now = st.now()
    return {
        "id": st.new_id("pi"),
        "object": "payment_intent",
        "amount": session["amount_total"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": session["amount_total"] if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": _int(pi_data, "application_fee_amount"),
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"pi_{secrets.token_hex(12)}_secret_{secrets.token_hex(8)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": session["currency"],
        "customer": session["customer"],
        "description": pi_data.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(pi_data.get("metadata") or session["metadata"]),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": session.get("customer_email"),
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def _subscription(st: State, session: JSONDict, customer: str) -> JSONDict:
    data = session["_subscription_data"]
    item = session["_items"][0]
    now = st.now()
    trial_days = _int(data, "trial_period_days")
    trial_end = _int(data, "trial_end")
    if trial_end is None and trial_days:
        trial_end = now + trial_days * 86400
    period_end = trial_end or now + 30 * 86400
    sub_id = st.new_id("sub")
    price = {
        "id": st.new_id("price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": item["currency"],
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": item["name"],
        "product": st.new_id("prod"),
        "recurring": {
            "interval": (item["recurring"] or {}).get("interval", "month"),
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": item["unit_amount"],
        "unit_amount_decimal": str(item["unit_amount"]),
    }
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_end,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": item["currency"],
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": st.new_id("si"),
                    "object": "subscription_item",
                    "created": now,
                    "current_period_end": period_end,
                    "current_period_start": now,
                    "discounts": [],
                    "metadata": {},
                    "price": price,
                    "quantity": 1,
                    "subscription": sub_id,
                    "tax_rates": [],
                }
            ],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(data.get("metadata") or session["metadata"]),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "trialing" if trial_end else "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": now if trial_end else None,
    }


def _invoice(st: State, sub: JSONDict, *, paid: bool, attempt: int = 1) -> JSONDict:
    item = sub["items"]["data"][0]
    amount = item["price"]["unit_amount"]
    now = st.now()
    return {
        "id": st.new_id("in"),
        "object": "invoice",
        "account_country": "GB",
        "account_name": "Similia",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "amount_shipping": 0,
        "attempt_count": attempt,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": now,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "hosted_invoice_url": f"{st.base_url}/invoices/{sub['id']}",
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else now + 3 * 86400,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub["metadata"]),
                "subscription": sub["id"],
            },
            "type": "subscription_details",
        },
        "period_end": item["current_period_end"],
        "period_start": item["current_period_start"],
        "status": "paid" if paid else "open",
        "subtotal": amount,
        "total": amount,
    }


def _account(st: State, p: JSONDict) -> JSONDict:
    if p.get("type") not in ("express", "standard", "custom", None):
        raise StripeError(400, "Invalid account type.", param="type")
    return {
        "id": f"acct_{secrets.token_hex(8).upper()}",
        "object": "account",
        "business_profile": {"name": None, "url": None, "mcc": None, "support_email": None},
        "business_type": p.get("business_type"),
        "capabilities": {},
        "charges_enabled": False,
        "controller": {"type": "application", "is_controller": True},
        "country": (p.get("country") or "GB").upper(),
        "created": st.now(),
        "default_currency": (p.get("default_currency") or "gbp").lower(),
        "details_submitted": False,
        "email": p.get("email"),
        "external_accounts": {"object": "list", "data": [], "has_more": False, "url": "/"},
        "future_requirements": None,
        "metadata": dict(p.get("metadata") or {}),
        "payouts_enabled": False,
        "requirements": {
            "currently_due": ["external_account", "tos_acceptance.date"],
            "disabled_reason": "requirements.past_due",
            "eventually_due": [],
            "past_due": [],
        },
        "settings": None,
        "tos_acceptance": {"date": None},
        "type": p.get("type") or "express",
    }


def _refunded(st: State, pi_id: str) -> int:
    """What the refunds of a payment intent took back (failed and canceled ones do not count)."""
    return sum(
        o["amount"]
        for acct, o in st.objects.values()
        if o["object"] == "refund"
        and o["payment_intent"] == pi_id
        and o["status"] not in ("failed", "canceled")
    )


def _charge(st: State, pi: JSONDict) -> JSONDict:
    """The payment intent's charge as Stripe shows it (with what was refunded of it)."""
    refunded = _refunded(st, pi["id"])
    return {
        "id": pi["latest_charge"],
        "object": "charge",
        "amount": pi["amount_received"],
        "amount_captured": pi["amount_received"],
        "amount_refunded": refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "SIMILIA",
        "captured": True,
        "created": pi["created"],
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},  # as at Stripe: the payment intent's metadata is not copied
        "on_behalf_of": None,
        "outcome": None,
        "paid": True,
        "payment_intent": pi["id"],
        "payment_method": None,
        "payment_method_details": None,
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": refunded >= pi["amount_received"],
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def _refund(st: State, p: JSONDict, pi: JSONDict) -> JSONDict:
    amount = _int(p, "amount", default=pi["amount_received"])
    already = _refunded(st, pi["id"])
    if amount <= 0 or amount + already > pi["amount_received"]:
        raise StripeError(
            400,
            f"Refund amount ({amount}) is greater than the unrefunded amount on the charge.",
            code="amount_too_large",
            param="amount",
        )
    if p.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise StripeError(400, "Invalid reason.", param="reason")
    return {
        "id": st.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": pi["latest_charge"],
        "created": st.now(),
        "currency": pi["currency"],
        "destination_details": None,
        "metadata": dict(p.get("metadata") or {}),
        "payment_intent": pi["id"],
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


# ----------------------------------------------------------------------------------------------
# The WSGI app
# ----------------------------------------------------------------------------------------------

Handler = Callable[..., Any]


class StripeServer:
    """The WSGI application (one :class:`State`)."""

    def __init__(self, base_url: str, secret: str, connect_secret: str) -> None:
        self.state = State(base_url, secret, connect_secret)
        r = Rule
        self.url_map = Map(
            [
                r("/v1/customers", methods=["POST"], endpoint="create_customer"),
                r("/v1/customers/<ident>", methods=["GET"], endpoint="get_customer"),
                r("/v1/checkout/sessions", methods=["POST"], endpoint="create_session"),
                r("/v1/checkout/sessions", methods=["GET"], endpoint="list_sessions"),
                r("/v1/checkout/sessions/<ident>", methods=["GET"], endpoint="get_session"),
                r(
                    "/v1/checkout/sessions/<ident>/expire",
                    methods=["POST"],
                    endpoint="expire_session",
                ),
                r("/v1/billing_portal/sessions", methods=["POST"], endpoint="create_portal"),
                r("/v1/subscriptions/<ident>", methods=["GET"], endpoint="get_subscription"),
                r("/v1/subscriptions/<ident>", methods=["POST"], endpoint="update_subscription"),
                r("/v1/subscriptions/<ident>", methods=["DELETE"], endpoint="cancel_subscription"),
                r("/v1/accounts", methods=["POST"], endpoint="create_account"),
                r("/v1/accounts/<ident>", methods=["GET"], endpoint="get_account"),
                r("/v1/account_links", methods=["POST"], endpoint="create_account_link"),
                r("/v1/payment_intents/<ident>", methods=["GET"], endpoint="get_payment_intent"),
                r("/v1/refunds", methods=["POST"], endpoint="create_refund"),
                r("/v1/refunds/<ident>", methods=["GET"], endpoint="get_refund"),
                r("/v1/events/<ident>", methods=["GET"], endpoint="get_event"),
                # test controls
                r("/_test/checkout/<ident>/complete", methods=["POST"], endpoint="t_complete"),
                r("/_test/checkout/<ident>/expire", methods=["POST"], endpoint="t_expire"),
                r("/_test/subscriptions/<ident>/<what>", methods=["POST"], endpoint="t_sub"),
                r("/_test/accounts/<ident>/onboard", methods=["POST"], endpoint="t_onboard"),
                r("/_test/refunds/<ident>/<status>", methods=["POST"], endpoint="t_refund"),
                r("/_test/faults", methods=["POST"], endpoint="t_faults"),
                r("/_test/requests", methods=["GET"], endpoint="t_requests"),
                r("/_test/events", methods=["GET"], endpoint="t_events"),
                r("/_test/objects/<ident>", methods=["GET"], endpoint="t_object"),
                # hosted pages
                r("/checkout/<ident>", methods=["GET"], endpoint="page_checkout"),
                r("/checkout/<ident>", methods=["POST"], endpoint="page_checkout_submit"),
                r("/connect/onboarding/<ident>", methods=["GET", "POST"], endpoint="page_onboard"),
                r("/billing_portal/<ident>", methods=["GET"], endpoint="page_portal"),
            ]
        )

    # -- plumbing ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        """WSGI entry point."""
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route, authenticate, apply idempotency and faults, answer JSON or an error object."""
        st = self.state
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            if request.path.startswith("/v1/"):
                return _json(
                    StripeError(
                        404, f"Unrecognized request URL ({request.method}: {request.path})."
                    ).body(),
                    404,
                )
            return exc.get_response()
        handler = getattr(self, endpoint)
        if not request.path.startswith("/v1/"):
            return handler(request, **args)
        account = request.headers.get("Stripe-Account") or None
        key = request.headers.get("Idempotency-Key")
        log = {
            "method": request.method,
            "path": request.path,
            "account": account,
            "idempotency_key": key,
            "replayed": False,
        }
        with st.lock:
            st.requests.append(log)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            return _json(
                StripeError(
                    401,
                    "You did not provide an API key.",
                    type_="invalid_request_error",
                ).body(),
                401,
            )
        pairs = list(request.form.items(multi=True)) + [
            (k, v) for k, v in request.args.items(multi=True)
        ]
        params = decode_params(pairs)
        fault = self._take_fault(request.path)
        if fault and fault["mode"] == "500_before":
            return _json(
                StripeError(500, "An unknown error occurred", type_="api_error").body(),
                500,
                headers={"Stripe-Should-Retry": "true"},
            )
        with st.lock:
            if key and request.method == "POST":
                seen = st.idempotency.get((account, key))
                if seen is not None:
                    where, old_params, status, body = seen
                    if where != f"{request.method} {request.path}" or old_params != params:
                        return _json(
                            StripeError(
                                400,
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with.",
                                type_="idempotency_error",
                            ).body(),
                            400,
                        )
                    log["replayed"] = True
                    return Response(
                        body,
                        status,
                        mimetype="application/json",
                        headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                    )
            try:
                result = handler(request, params=params, account=account, **args)
                status, body = 200, json.dumps(_expand(st, result, params, account)).encode()
            except StripeError as exc:
                status, body = exc.status, json.dumps(exc.body()).encode()
            if key and request.method == "POST" and status < 500:
                st.idempotency[(account, key)] = (
                    f"{request.method} {request.path}",
                    params,
                    status,
                    body,
                )
        if fault and fault["mode"] == "500":
            return _json(
                StripeError(500, "An unknown error occurred", type_="api_error").body(),
                500,
                headers={"Stripe-Should-Retry": "true"},
            )
        if fault and fault["mode"] == "timeout":
            time.sleep(float(fault.get("seconds", 3)))
        headers = {"Request-Id": f"req_{secrets.token_hex(7)}"}
        if key:
            headers["Idempotency-Key"] = key
        return Response(body, status, mimetype="application/json", headers=headers)

    def _take_fault(self, path: str) -> JSONDict | None:
        with self.state.lock:
            for fault in self.state.faults:
                if path.startswith(fault.get("path", "/v1/")) and fault["count"] > 0:
                    fault["count"] -= 1
                    return fault
        return None

    # -- customers --------------------------------------------------------------------------

    def create_customer(self, request, *, params, account):
        """POST /v1/customers."""
        return _public(self.state.put(_customer(self.state, params), account))

    def get_customer(self, request, *, params, account, ident):
        """GET /v1/customers/:id."""
        return _public(self.state.get(ident, "customer", account, obj_type="customer"))

    # -- checkout sessions ------------------------------------------------------------------

    def create_session(self, request, *, params, account):
        """POST /v1/checkout/sessions."""
        return _public(self.state.put(_session(self.state, params, account), account))

    def get_session(self, request, *, params, account, ident):
        """GET /v1/checkout/sessions/:id."""
        return _public(
            self.state.get(ident, "checkout session", account, obj_type="checkout.session")
        )

    def list_sessions(self, request, *, params, account):
        """GET /v1/checkout/sessions (newest first; ``limit``, ``starting_after``)."""
        st = self.state
        rows = [
            o
            for acct, o in st.objects.values()
            if acct == account
            and o["object"] == "checkout.session"
            and (
                not params.get("payment_intent") or o["payment_intent"] == params["payment_intent"]
            )
        ]
        rows.sort(key=lambda o: st.seq[o["id"]], reverse=True)
        return _page(rows, params, "/v1/checkout/sessions")

    def expire_session(self, request, *, params, account, ident):
        """POST /v1/checkout/sessions/:id/expire."""
        session = self.state.get(ident, "checkout session", account, obj_type="checkout.session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".',
            )
        events = self._expire(session, account)
        self.state.deliver(events)
        return _public(session)

    def _expire(self, session: JSONDict, account: str | None) -> list[JSONDict]:
        session["status"] = "expired"
        return [self.state.event("checkout.session.expired", _public(session), account)]

    # -- billing portal ---------------------------------------------------------------------

    def create_portal(self, request, *, params, account):
        """POST /v1/billing_portal/sessions."""
        st = self.state
        if not params.get("customer"):
            raise required("customer")
        st.get(params["customer"], "customer", account, obj_type="customer")
        bps = st.new_id("bps")
        return _public(
            st.put(
                {
                    "id": bps,
                    "object": "billing_portal.session",
                    "configuration": "bpc_local",
                    "created": st.now(),
                    "customer": params["customer"],
                    "flow": None,
                    "livemode": False,
                    "locale": params.get("locale"),
                    "on_behalf_of": None,
                    "return_url": params.get("return_url"),
                    "url": f"{st.base_url}/billing_portal/{bps}",
                },
                account,
            )
        )

    # -- subscriptions ----------------------------------------------------------------------

    def get_subscription(self, request, *, params, account, ident):
        """GET /v1/subscriptions/:id."""
        return self.state.get(ident, "subscription", account, obj_type="subscription")

    def update_subscription(self, request, *, params, account, ident):
        """POST /v1/subscriptions/:id (``cancel_at_period_end``, ``metadata``, ``trial_end``).

        ``trial_end`` moves a trialing subscription's trial (and its first billing) to that
        instant, as Stripe does with ``proration_behavior=none``; it must be in the future.
        """
        st = self.state
        sub = st.get(ident, "subscription", account, obj_type="subscription")
        previous: JSONDict = {}
        if "trial_end" in params:
            end = _int(params, "trial_end")
            if sub["status"] != "trialing":
                raise StripeError(400, "This subscription is not in a trial.", param="trial_end")
            if end is None or end <= st.now():
                raise StripeError(
                    400, "trial_end must be a timestamp in the future.", param="trial_end"
                )
            previous["trial_end"] = sub["trial_end"]
            sub["trial_end"] = end
            sub["billing_cycle_anchor"] = end
            sub["items"]["data"][0]["current_period_end"] = end
        if "cancel_at_period_end" in params:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = _bool(params["cancel_at_period_end"])
            sub["cancel_at"] = (
                sub["items"]["data"][0]["current_period_end"]
                if sub["cancel_at_period_end"]
                else None
            )
        if "metadata" in params:
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(params["metadata"])
        st.deliver([st.event("customer.subscription.updated", sub, account, previous)])
        return sub

    def cancel_subscription(self, request, *, params, account, ident):
        """DELETE /v1/subscriptions/:id: cancel now."""
        st = self.state
        sub = st.get(ident, "subscription", account, obj_type="subscription")
        if sub["status"] == "canceled":
            raise StripeError(
                400, f"No such subscription: '{ident}'", code="resource_missing", param="id"
            )
        sub.update(status="canceled", canceled_at=st.now(), ended_at=st.now())
        st.deliver([st.event("customer.subscription.deleted", sub, account)])
        return sub

    # -- Connect ----------------------------------------------------------------------------

    def create_account(self, request, *, params, account):
        """POST /v1/accounts."""
        if account:
            raise StripeError(400, "Connected accounts cannot create accounts.")
        return self.state.put(_account(self.state, params), None)

    def get_account(self, request, *, params, account, ident):
        """GET /v1/accounts/:id."""
        return self.state.get(ident, "account", None, obj_type="account")

    def create_account_link(self, request, *, params, account):
        """POST /v1/account_links."""
        st = self.state
        for name in ("account", "type"):
            if not params.get(name):
                raise required(name)
        acct = st.get(params["account"], "account", None, obj_type="account")
        if not params.get("refresh_url"):
            raise required("refresh_url")
        if not params.get("return_url"):
            raise required("return_url")
        acct["_return_url"] = params["return_url"]
        return {
            "object": "account_link",
            "created": st.now(),
            "expires_at": st.now() + 300,
            "url": f"{st.base_url}/connect/onboarding/{acct['id']}",
        }

    # -- payments ---------------------------------------------------------------------------

    def get_payment_intent(self, request, *, params, account, ident):
        """GET /v1/payment_intents/:id."""
        return self.state.get(ident, "payment intent", account, obj_type="payment_intent")

    def create_refund(self, request, *, params, account):
        """POST /v1/refunds (``payment_intent``, ``amount``, ``reason``, ``metadata``)."""
        st = self.state
        if not params.get("payment_intent"):
            raise required("payment_intent")
        pi = st.get(params["payment_intent"], "payment_intent", account, obj_type="payment_intent")
        if pi["status"] != "succeeded":
            raise StripeError(
                400,
                "This PaymentIntent has no successful charge to refund.",
                code="charge_not_refundable",
            )
        refund = st.put(_refund(st, params, pi), account)
        st.deliver(
            [
                st.event("refund.created", refund, account),
                st.event("charge.refunded", _charge(st, pi), account),
            ]
        )
        return refund

    def refund_status(self, ident: str, status: str) -> list[JSONDict]:
        """A refund's later fate (``failed``, ``canceled``, ``succeeded``): ``refund.updated``."""
        st = self.state
        if status not in ("failed", "canceled", "succeeded", "pending"):
            raise StripeError(400, "Invalid status.", param="status")
        with st.lock:
            found = st.objects.get(ident)
            if not found or found[1]["object"] != "refund":
                raise missing("refund", ident)
            account, refund = found
            previous = {"status": refund["status"]}
            refund["status"] = status
            return [st.event("refund.updated", refund, account, previous)]

    def get_refund(self, request, *, params, account, ident):
        """GET /v1/refunds/:id."""
        return self.state.get(ident, "refund", account, obj_type="refund")

    def get_event(self, request, *, params, account, ident):
        """GET /v1/events/:id."""
        return self.state.get(ident, "event", account, obj_type="event")

    # -- test controls ----------------------------------------------------------------------

    def _session_any_account(self, ident: str) -> tuple[JSONDict, str | None]:
        found = self.state.objects.get(ident)
        if not found or found[1]["object"] != "checkout.session":
            raise missing("checkout session", ident)
        return found[1], found[0]

    def complete(self, ident: str, outcome: str) -> list[JSONDict]:
        """Pay (``paid``) or decline (``declined``) a checkout session; the events it causes."""
        st = self.state
        with st.lock:
            session, account = self._session_any_account(ident)
            if session["status"] != "open":
                raise StripeError(400, f"This Checkout Session is {session['status']}.")
            if session["expires_at"] <= time.time():
                return self._expire(session, account)
            events: list[JSONDict] = []
            email = session["customer_email"] or "patient@example.com"
            session["customer_details"] = {
                "address": None,
                "email": email,
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
            if session["mode"] == "payment":
                pi = st.put(
                    _payment_intent(
                        st, session, "succeeded" if outcome == "paid" else "requires_payment_method"
                    ),
                    account,
                )
                session["payment_intent"] = pi["id"]
                if outcome != "paid":
                    pi["last_payment_error"] = {
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                        "type": "card_error",
                    }
                    events.append(st.event("payment_intent.payment_failed", pi, account))
                    return events
                pi["latest_charge"] = st.new_id("ch")
                session.update(status="complete", payment_status="paid")
                events.append(st.event("checkout.session.completed", _public(session), account))
                events.append(st.event("payment_intent.succeeded", pi, account))
                return events
            # subscription mode
            if outcome != "paid":
                raise StripeError(
                    402, "Your card was declined.", type_="card_error", code="card_declined"
                )
            customer = session["customer"]
            if not customer:
                cust = st.put(_customer(st, {"email": email}), account)
                customer = session["customer"] = cust["id"]
            sub = st.put(_subscription(st, session, customer), account)
            session.update(
                status="complete",
                payment_status="no_payment_required" if sub["trial_end"] else "paid",
                subscription=sub["id"],
            )
            events.append(st.event("customer.subscription.created", sub, account))
            events.append(st.event("checkout.session.completed", _public(session), account))
            if not sub["trial_end"]:
                inv = st.put(_invoice(st, sub, paid=True), account)
                sub["latest_invoice"] = inv["id"]
                events.append(st.event("invoice.paid", inv, account))
            return events

    def subscription_event(self, ident: str, what: str) -> list[JSONDict]:
        """``fail_payment`` → past_due; ``exhaust`` → unpaid; ``pay`` → active; ``end_trial``."""
        st = self.state
        with st.lock:
            found = st.objects.get(ident)
            if not found or found[1]["object"] != "subscription":
                raise missing("subscription", ident)
            account, sub = found
            old = sub["status"]
            events = []
            if what == "fail_payment":
                attempt = sub.get("_attempts", 0) + 1
                sub["_attempts"] = attempt
                inv = st.put(_invoice(st, sub, paid=False, attempt=attempt), account)
                sub.update(status="past_due", latest_invoice=inv["id"], trial_end=sub["trial_end"])
                events.append(st.event("invoice.payment_failed", inv, account))
            elif what == "exhaust":
                sub["status"] = "unpaid"
            elif what in ("pay", "end_trial"):
                sub["_attempts"] = 0
                inv = st.put(_invoice(st, sub, paid=True), account)
                sub.update(status="active", latest_invoice=inv["id"])
                events.append(st.event("invoice.paid", inv, account))
            else:
                raise StripeError(404, f"Unknown test action {what}.")
            events.append(
                st.event("customer.subscription.updated", _public(sub), account, {"status": old})
            )
            return events

    def onboard(self, ident: str) -> list[JSONDict]:
        """Finish an Express account's onboarding: details, charges and payouts enabled."""
        st = self.state
        with st.lock:
            acct = st.get(ident, "account", None, obj_type="account")
            acct.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
            acct["requirements"] = {
                "currently_due": [],
                "disabled_reason": None,
                "eventually_due": [],
                "past_due": [],
            }
            # account.updated is a Connect event: it carries the account
            return [st.event("account.updated", _public(acct), ident)]

    def _control(self, fn: Callable[[], list[JSONDict]]) -> Response:
        try:
            events = fn()
        except StripeError as exc:
            return _json(exc.body(), exc.status)
        self.state.deliver(events)
        return _json({"events": events})

    def t_complete(self, request, ident):
        """POST /_test/checkout/<id>/complete ``{"outcome": "paid"|"declined"}``."""
        outcome = (request.get_json(silent=True) or {}).get("outcome", "paid")
        return self._control(lambda: self.complete(ident, outcome))

    def t_expire(self, request, ident):
        """POST /_test/checkout/<id>/expire: the session's time ran out."""

        def run():
            with self.state.lock:
                session, account = self._session_any_account(ident)
                if session["status"] != "open":
                    raise StripeError(400, f"This Checkout Session is {session['status']}.")
                return self._expire(session, account)

        return self._control(run)

    def t_sub(self, request, ident, what):
        """POST /_test/subscriptions/<id>/<fail_payment|exhaust|pay|end_trial>."""
        return self._control(lambda: self.subscription_event(ident, what))

    def t_onboard(self, request, ident):
        """POST /_test/accounts/<id>/onboard."""
        return self._control(lambda: self.onboard(ident))

    def t_refund(self, request, ident, status):
        """POST /_test/refunds/<id>/<failed|canceled|succeeded>: ``refund.updated``."""
        return self._control(lambda: self.refund_status(ident, status))

    def t_faults(self, request):
        """POST /_test/faults ``{"path": "/v1/refunds", "mode": "500"|"timeout", "count": 1}``."""
        fault = request.get_json(silent=True) or {}
        with self.state.lock:
            if fault.get("clear"):
                self.state.faults.clear()
            else:
                fault.setdefault("count", 1)
                self.state.faults.append(fault)
        return _json({"faults": self.state.faults})

    def t_requests(self, request):
        """GET /_test/requests: every API request seen (method, path, key, account, replayed)."""
        with self.state.lock:
            return _json({"data": list(self.state.requests)})

    def t_events(self, request):
        """GET /_test/events: every event produced, signed, in order."""
        with self.state.lock:
            return _json({"data": list(self.state.events)})

    def t_object(self, request, ident):
        """GET /_test/objects/<id>: any stored object, whatever its account."""
        with self.state.lock:
            found = self.state.objects.get(ident)
        if not found:
            return _json(missing("object", ident).body(), 404)
        return _json({"account": found[0], "object": _public(found[1])})

    # -- hosted pages -----------------------------------------------------------------------

    def page_checkout(self, request, ident):
        """The hosted checkout page: pay or decline."""
        found = self.state.objects.get(ident)
        if not found or found[1]["object"] != "checkout.session":
            return _page_html("Not found", "<p>This checkout link is not valid.</p>", 404)
        session = found[1]
        item = session["_items"][0]
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        body = (
            f"<p>{html.escape(item['name'])}</p><p data-amount>Total: {amount}</p>"
            f"<p>Status: {html.escape(session['status'])}</p>"
        )
        if session["status"] == "open":
            body += (
                f'<form method="post"><input type="hidden" name="outcome" value="paid">'
                f'<button type="submit">Pay {amount}</button></form>'
                f'<form method="post"><input type="hidden" name="outcome" value="declined">'
                f'<button type="submit">Decline (test card)</button></form>'
            )
            if session.get("cancel_url"):
                body += f'<p><a href="{html.escape(session["cancel_url"])}">Back</a></p>'
        return _page_html("Test checkout", body)

    def page_checkout_submit(self, request, ident):
        """Pay or decline from the hosted page, then return to the merchant."""
        outcome = request.form.get("outcome", "paid")
        try:
            events = self.complete(ident, outcome)
        except StripeError as exc:
            return _page_html("Checkout", f"<p>{html.escape(exc.message)}</p>", exc.status)
        self.state.deliver(events)
        session = self.state.objects[ident][1]
        if session["status"] == "complete":
            url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", ident)
            return Response(status=303, headers={"Location": url})
        return _page_html(
            "Payment declined",
            f'<p role="alert">Your card was declined.</p>'
            f'<p><a href="/checkout/{html.escape(ident)}">Try again</a></p>',
            402,
        )

    def page_onboard(self, request, ident):
        """Express onboarding: one button finishes it and returns to the clinic's console."""
        found = self.state.objects.get(ident)
        if not found or found[1]["object"] != "account":
            return _page_html("Not found", "<p>Unknown account.</p>", 404)
        if request.method == "POST":
            events = self.onboard(ident)
            self.state.deliver(events)
            return Response(status=303, headers={"Location": found[1].get("_return_url", "/")})
        return _page_html(
            "Connect onboarding (test)",
            '<form method="post"><button type="submit">Submit test details</button></form>',
        )

    def page_portal(self, request, ident):
        """The customer portal stand-in: a link back."""
        found = self.state.objects.get(ident)
        if not found:
            return _page_html("Not found", "<p>Unknown session.</p>", 404)
        back = html.escape(found[1].get("return_url") or "/")
        return _page_html(
            "Billing portal (test)",
            f'<p>Cards and invoices are managed here on Stripe.</p><p><a href="{back}">'
            "Return</a></p>",
        )


def _page(rows: list[JSONDict], params: JSONDict, url: str) -> JSONDict:
    limit = min(max(_int(params, "limit", default=10) or 10, 1), 100)
    after = params.get("starting_after")
    if after:
        ids = [r["id"] for r in rows]
        if after not in ids:
            raise missing("object", after, "starting_after")
        rows = rows[ids.index(after) + 1 :]
    return {
        "object": "list",
        "data": [_public(r) for r in rows[:limit]],
        "has_more": len(rows) > limit,
        "url": url,
    }


def _expand(st: State, result: JSONDict, params: JSONDict, account: str | None) -> JSONDict:
    result = copy.deepcopy(_public(result))
    for path in params.get("expand") or []:
        parts = path.split(".")
        targets = [result]
        if parts[0] == "data" and result.get("object") == "list":
            targets, parts = result["data"], parts[1:]
        for target in targets:
            node = target
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            last = parts[-1]
            if isinstance(node, dict) and isinstance(node.get(last), str):
                found = st.objects.get(node[last])
                if found and found[0] == account:
                    node[last] = _public(copy.deepcopy(found[1]))
    return result


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data), status, mimetype="application/json", headers=headers)


def _page_html(title: str, body: str, status: int = 200) -> Response:
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><main><h1>{title}</h1>{body}</main></body></html>"
    )
    return Response(doc, status, mimetype="text/html")


def main(argv: list[str] | None = None) -> None:
    """Run the server (threaded) until killed."""
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--connect-secret", required=True)
    parser.add_argument("--forward-to")
    parser.add_argument("--forward-connect-to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    app = StripeServer(f"http://{args.host}:{args.port}", args.webhook_secret, args.connect_secret)
    app.state.forward_to = args.forward_to
    app.state.forward_connect_to = args.forward_connect_to
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"stripe test server on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
