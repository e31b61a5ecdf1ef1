"""The local Stripe test server speaks Stripe's conventions and shapes, through the real library.

``test_shapes_match_stripe_fixtures`` compares every object type the product reads with Stripe's
own example objects (``stripe_fixtures3.json``, MIT, from stripe/openapi): a key we return must
exist in Stripe's object with the same kind of value, and every key the product reads must be
there in both.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
import stripe

FIXTURES = json.loads((Path(__file__).parent / "stripe_fixtures3.json").read_text())["resources"]

#: Keys the product reads, per Stripe object type (billing/ and its templates).
READS = {
    "customer": {"id", "email", "metadata"},
    "checkout.session": {
        "id", "url", "status", "mode", "payment_status", "metadata", "customer",
        "subscription", "payment_intent", "amount_total", "currency", "expires_at",
        "client_reference_id",
    },
    "subscription": {
        "id", "status", "customer", "metadata", "trial_end", "cancel_at_period_end", "items",
        "created",
    },
    "subscription_item": {"current_period_end", "price"},
    "price": {"unit_amount", "currency"},
    "invoice": {"id", "customer", "parent", "status", "amount_paid", "currency"},
    "account": {"id", "details_submitted", "charges_enabled", "payouts_enabled", "metadata"},
    "account_link": {"url", "expires_at"},
    "billing_portal.session": {"url"},
    "payment_intent": {
        "id", "status", "amount", "amount_received", "currency", "metadata",
        "application_fee_amount", "latest_charge", "last_payment_error",
    },
    "refund": {"id", "amount", "status", "payment_intent", "metadata", "currency", "charge"},
    "charge": {"id", "amount", "amount_refunded", "payment_intent", "refunded", "currency"},
    "event": {"id", "type", "created", "data"},  # and "account" on Connect events
}
#: Keys that exist on the live object but not in the fixture file's example.
FIXTURE_GAPS = {"event": {"account"}}


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


def assert_shape(obj_type: str, ours: dict) -> None:
    """``ours`` has only Stripe's keys, with Stripe's kinds of values, and the keys we read."""
    theirs = FIXTURES[obj_type]
    gaps = FIXTURE_GAPS.get(obj_type, set())
    unknown = set(ours) - set(theirs) - gaps
    assert not unknown, f"{obj_type}: keys Stripe does not have: {sorted(unknown)}"
    for key in READS.get(obj_type, ()):
        assert key in ours, f"{obj_type}: the product reads {key!r}, the server omits it"
        assert key in theirs or key in gaps, f"{obj_type}: {key!r} is not a Stripe key"
    for key, value in ours.items():
        if key in gaps:
            continue
        a, b = _kind(value), _kind(theirs[key])
        assert "null" in (a, b) or a == b, f"{obj_type}.{key}: {a} here, {b} at Stripe"
    assert ours.get("object", obj_type) == obj_type


def _raw(stripe_server, path: str, account: str | None = None) -> dict:
    headers = {"Authorization": "Bearer sk_test_local"}
    if account:
        headers["Stripe-Account"] = account
    req = urllib.request.Request(stripe_server.base + path, headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _line(amount=1500, currency="gbp", recurring=False):
    data = {"currency": currency, "unit_amount": amount, "product_data": {"name": "Visit"}}
    if recurring:
        data["recurring"] = {"interval": "month"}
    return [{"price_data": data, "quantity": 1}]


def test_shapes_match_stripe_fixtures(stripe_server, sc):
    """Every object type the product reads has Stripe's keys and kinds of values."""
    cus = sc.v1.customers.create(params={"email": "o@example.com", "metadata": {"t": "1"}})
    assert_shape("customer", _raw(stripe_server, f"/v1/customers/{cus.id}"))

    sub_cs = sc.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": cus.id,
            "line_items": _line(recurring=True),
            "success_url": "http://x/ok",
            "subscription_data": {"metadata": {"tenant_id": "t"}},
        }
    )
    assert_shape("checkout.session", _raw(stripe_server, f"/v1/checkout/sessions/{sub_cs.id}"))
    events = stripe_server.complete(sub_cs.id)
    for ev in events:
        event = json.loads(ev["payload"])
        assert_shape("event", event)
        obj = event["data"]["object"]
        assert_shape(obj["object"], obj)
    sub_id = sc.v1.checkout.sessions.retrieve(sub_cs.id).subscription
    sub = _raw(stripe_server, f"/v1/subscriptions/{sub_id}")
    assert_shape("subscription", sub)
    item = sub["items"]["data"][0]
    assert_shape("subscription_item", item)
    assert_shape("price", item["price"])
    for ev in stripe_server.subscription(sub_id, "fail_payment"):
        obj = json.loads(ev["payload"])["data"]["object"]
        assert_shape(obj["object"], obj)

    portal = _raw_post(stripe_server, "/v1/billing_portal/sessions", {"customer": cus.id})
    assert_shape("billing_portal.session", portal)

    acct = sc.v1.accounts.create(params={"type": "express", "metadata": {"tenant_id": "t"}})
    assert_shape("account", _raw(stripe_server, f"/v1/accounts/{acct.id}"))
    link = _raw_post(
        stripe_server,
        "/v1/account_links",
        {"account": acct.id, "type": "account_onboarding", "refresh_url": "http://x/r",
         "return_url": "http://x/ok"},
    )
    assert_shape("account_link", link)
    onboard = json.loads(stripe_server.onboard(acct.id)[0]["payload"])
    assert_shape("event", onboard)
    assert_shape("account", onboard["data"]["object"])

    cs = sc.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": _line(),
            "success_url": "http://x/ok",
            "payment_intent_data": {"application_fee_amount": 100, "metadata": {"a": "1"}},
        },
        options={"stripe_account": acct.id},
    )
    for ev in stripe_server.complete(cs.id):
        obj = json.loads(ev["payload"])["data"]["object"]
        assert_shape(obj["object"], obj)
    pi_id = sc.v1.checkout.sessions.retrieve(cs.id, options={"stripe_account": acct.id}).payment_intent
    assert_shape("payment_intent", _raw(stripe_server, f"/v1/payment_intents/{pi_id}", acct.id))
    refund = sc.v1.refunds.create(
        params={"payment_intent": pi_id, "amount": 500}, options={"stripe_account": acct.id}
    )
    assert_shape("refund", _raw(stripe_server, f"/v1/refunds/{refund.id}", acct.id))
    # the refund's webhooks: refund.created, charge.refunded, and refund.updated later
    # (charge.refunded of this refund's charge: a worker of an earlier test may refund
    # another payment meanwhile)
    assert refund.charge
    caused = stripe_server.events("refund.created", refund.id) + stripe_server.events(
        "charge.refunded", refund.charge
    )[-1:]
    caused += stripe_server.refund_status(refund.id, "failed")
    assert [ev["type"] for ev in caused] == ["refund.created", "charge.refunded", "refund.updated"]
    for ev in caused:
        event = json.loads(ev["payload"])
        assert_shape("event", event)
        obj = event["data"]["object"]
        assert_shape(obj["object"], obj)
    charge = json.loads(caused[1]["payload"])["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"], charge["payment_intent"]) == (
        500,
        False,
        pi_id,
    )
    assert json.loads(caused[2]["payload"])["data"]["object"]["status"] == "failed"


def _raw_post(stripe_server, path: str, params: dict) -> dict:
    from urllib.parse import urlencode

    req = urllib.request.Request(
        stripe_server.base + path,
        data=urlencode(params).encode(),
        headers={"Authorization": "Bearer sk_test_local"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_shape_check_catches_a_wrong_key_or_type():
    """The shape assertion itself fails on an invented key, a wrong type or a missing read."""
    good = dict(FIXTURES["refund"])
    assert_shape("refund", good)
    with pytest.raises(AssertionError, match="keys Stripe does not have"):
        assert_shape("refund", {**good, "amount_refunded_extra": 1})
    with pytest.raises(AssertionError, match="refund.amount"):
        assert_shape("refund", {**good, "amount": "100"})
    with pytest.raises(AssertionError, match="omits it"):
        assert_shape("refund", {k: v for k, v in good.items() if k != "payment_intent"})


def test_errors_are_stripe_error_objects(sc):
    """Missing objects, bad parameters and a missing key raise the library's typed errors."""
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sc.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as bad:
        sc.v1.checkout.sessions.create(params={"mode": "payment", "success_url": "http://x"})
    assert bad.value.http_status == 400 and bad.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError) as fee:
        sc.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "http://x",
                "line_items": _line(),
                "payment_intent_data": {"application_fee_amount": 10},
            }
        )
    assert fee.value.param == "payment_intent_data[application_fee_amount]"


def test_idempotency_key_replays_and_refuses_other_params(stripe_server, sc):
    """The same key replays the first answer; with other parameters it is refused."""
    opts = {"idempotency_key": "similia:test:replay"}
    first = sc.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    again = sc.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    assert again.id == first.id
    replays = [r for r in stripe_server.requests() if r["idempotency_key"] == opts["idempotency_key"]]
    assert [r["replayed"] for r in replays] == [False, True]
    with pytest.raises(stripe.IdempotencyError):
        sc.v1.customers.create(params={"email": "b@example.com"}, options=opts)


def test_connected_account_objects_need_the_stripe_account_header(stripe_server, sc):
    """A session made on a connected account is invisible to the platform and other accounts."""
    a = sc.v1.accounts.create(params={"type": "express"})
    b = sc.v1.accounts.create(params={"type": "express"})
    cs = sc.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": _line(), "success_url": "http://x"},
        options={"stripe_account": a.id},
    )
    assert sc.v1.checkout.sessions.retrieve(cs.id, options={"stripe_account": a.id}).id == cs.id
    for opts in ({}, {"stripe_account": b.id}):
        with pytest.raises(stripe.InvalidRequestError):
            sc.v1.checkout.sessions.retrieve(cs.id, options=opts)


def test_list_pagination(sc):
    """Lists come newest first, ``limit`` pages them and ``starting_after`` continues."""
    acct = sc.v1.accounts.create(params={"type": "express"})
    opts = {"stripe_account": acct.id}
    made = [
        sc.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": _line(100 + i), "success_url": "http://x"},
            options=opts,
        ).id
        for i in range(3)
    ]
    page = sc.v1.checkout.sessions.list(params={"limit": 2}, options=opts)
    assert [s.id for s in page.data] == made[::-1][:2] and page.has_more
    rest = sc.v1.checkout.sessions.list(
        params={"limit": 2, "starting_after": page.data[-1].id}, options=opts
    )
    assert [s.id for s in rest.data] == [made[0]] and not rest.has_more
    assert [s.id for s in page.auto_paging_iter()] == made[::-1]


def test_expand(stripe_server, sc):
    """``expand[]`` replaces an id by its object."""
    acct = sc.v1.accounts.create(params={"type": "express"})
    opts = {"stripe_account": acct.id}
    cs = sc.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": _line(), "success_url": "http://x"}, options=opts
    )
    stripe_server.complete(cs.id)
    plain = sc.v1.checkout.sessions.retrieve(cs.id, options=opts)
    assert isinstance(plain.payment_intent, str)
    full = sc.v1.checkout.sessions.retrieve(
        cs.id, params={"expand": ["payment_intent"]}, options=opts
    )
    assert full.payment_intent.id == plain.payment_intent
    assert full.payment_intent.status == "succeeded"


def test_webhooks_are_signed_as_stripe_signs(stripe_server, sc):
    """``stripe.Webhook.construct_event`` accepts the server's events with the right secret."""
    acct = sc.v1.accounts.create(params={"type": "express"})
    (ev,) = stripe_server.onboard(acct.id)
    assert ev["connect"]
    event = stripe.Webhook.construct_event(ev["payload"], ev["signature"], stripe_server.connect_secret)
    assert event.type == "account.updated" and event.account == acct.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(ev["payload"], ev["signature"], stripe_server.secret)


def test_a_500_after_the_work_is_retried_with_the_same_key(stripe_server, sc):
    """The library retries a 500 with the same idempotency key; the second answer is a replay."""
    client = stripe_server.client(max_network_retries=2)
    stripe_server.fault("/v1/customers", "500")
    key = "similia:test:retry-500"
    cus = client.v1.customers.create(params={"email": "r@example.com"}, options={"idempotency_key": key})
    seen = [r for r in stripe_server.requests() if r["idempotency_key"] == key]
    assert len(seen) == 2 and seen[1]["replayed"]
    assert stripe_server.object(cus.id)["email"] == "r@example.com"


def test_a_timeout_is_retried_with_the_same_key(stripe_server):
    """A request that times out is repeated with its key and answered once."""
    client = stripe_server.client(max_network_retries=2, timeout=1)
    stripe_server.fault("/v1/customers", "timeout", seconds=2)
    key = "similia:test:retry-timeout"
    cus = client.v1.customers.create(params={"email": "t@example.com"}, options={"idempotency_key": key})
    seen = [r for r in stripe_server.requests() if r["idempotency_key"] == key]
    assert len(seen) == 2 and seen[1]["replayed"]
    assert cus.id == stripe_server.object(cus.id)["id"]


def test_concurrent_requests_with_one_key_create_one_object(stripe_server, sc):
    """Five simultaneous creates with the same key make one customer."""
    ids = []
    key = "similia:test:concurrent"

    def create():
        ids.append(sc.v1.customers.create(params={"email": "c@example.com"}, options={"idempotency_key": key}).id)

    threads = [threading.Thread(target=create) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and len(ids) == 5
