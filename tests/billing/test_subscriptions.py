"""Clinic subscriptions through Stripe Checkout and webhooks, and the clinic's status with them.

Everything goes through the official ``stripe`` library against the local test server; the
webhook events the server signs are delivered to our endpoints and applied as the worker does.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.admin.clinic.console import Console
from tests.client import new_client

from .conftest import apply_events, deliver


def _status(db_row, clinic) -> str:
    return db_row("SELECT status FROM tenants WHERE id = %s", clinic.id)[0]


def _subscribe(app, clinic, stripe_server, plan="solo"):
    """The owner subscribes on the billing page; returns (console, checkout session id)."""
    owner = Console(app, clinic)
    page = owner.text("/console/billing/")
    assert "Choose a plan" in page and "Solo" in page
    r = owner.post("/console/billing/subscribe", {"plan": plan}, form_page="/console/billing/")
    assert r.status_code == 303, r.get_data(as_text=True)
    url = r.location
    assert url.startswith(stripe_server.base + "/checkout/")
    return owner, urlsplit(url).path.rsplit("/", 1)[1]


def test_whole_lifecycle_trial_active_past_due_suspended_active(
    app, make_clinic, stripe_server, sc, db_row
):
    """Checkout → trialing → paid → failed (past due) → retries exhausted (suspended) → paid."""
    clinic = make_clinic()
    client = new_client(app)
    owner, cs_id = _subscribe(app, clinic, stripe_server)
    session = sc.v1.checkout.sessions.retrieve(cs_id)
    assert session.mode == "subscription"
    assert session.metadata["tenant_id"] == str(clinic.id)
    events = stripe_server.complete(cs_id)
    outcomes = apply_events(app, client, events)
    assert all(o and not o.startswith("ignored") for o in outcomes), outcomes
    sub_id = sc.v1.checkout.sessions.retrieve(cs_id).subscription
    row = db_row(
        "SELECT s.status, s.plan_code, s.stripe_subscription_id, t.trial_ends_at"
        " FROM clinic_subscriptions s JOIN tenants t ON t.id = s.tenant_id WHERE s.tenant_id = %s",
        clinic.id,
    )
    assert row[:3] == ("trialing", "solo", sub_id) and row[3] is not None
    assert _status(db_row, clinic) == "trialing"

    apply_events(app, client, stripe_server.subscription(sub_id, "end_trial"))
    assert _status(db_row, clinic) == "active"

    apply_events(app, client, stripe_server.subscription(sub_id, "fail_payment"))
    assert _status(db_row, clinic) == "past_due"
    assert "Your last payment failed" in owner.text("/console/billing/")

    apply_events(app, client, stripe_server.subscription(sub_id, "exhaust"))
    assert _status(db_row, clinic) == "suspended"

    apply_events(app, client, stripe_server.subscription(sub_id, "pay"))
    assert _status(db_row, clinic) == "active"
    moves = db_row(
        "SELECT array_agg(data->>'to' ORDER BY seq) FROM audit_log"
        " WHERE tenant_id = %s AND action = 'tenant.status_changed' AND actor_label = 'stripe'",
        clinic.id,
    )[0]
    assert moves == ["active", "past_due", "suspended", "active"]  # trialing since signup


def test_portal_link_after_subscribing(app, make_clinic, stripe_server, sc):
    """Once subscribed, the page offers Stripe's customer portal for cards and invoices."""
    clinic = make_clinic()
    owner, cs_id = _subscribe(app, clinic, stripe_server)
    apply_events(app, new_client(app), stripe_server.complete(cs_id))
    page = owner.text("/console/billing/")
    assert "Change plan, cards and invoices" in page
    r = owner.post("/console/billing/portal", form_page="/console/billing/")
    assert r.status_code == 303 and r.location.startswith(stripe_server.base + "/billing_portal/")


def test_only_owners_manage_billing(app, make_clinic):
    """Admins and practitioners are refused the billing page and its actions."""
    clinic = make_clinic()
    admin = Console(app, clinic, "admin")
    assert admin.get("/console/billing/").status_code == 403
    assert admin.post("/console/billing/subscribe", {"plan": "solo"}).status_code == 403


def test_bad_signature_or_old_timestamp_is_refused_and_changes_nothing(
    app, make_clinic, stripe_server, db_row
):
    """A wrong signature or a timestamp outside tolerance: 400, no event stored, no effect."""
    from billing.stripe_server import sign

    clinic = make_clinic()
    _, cs_id = _subscribe(app, clinic, stripe_server)
    events = stripe_server.complete(cs_id)
    client = new_client(app)
    ev = events[0]
    forged = sign(ev["payload"], "whsec_wrong")
    old = sign(ev["payload"], stripe_server.secret, int(time.time()) - 3600)
    tampered = {**ev, "payload": ev["payload"].replace(str(clinic.id), "x")}
    for r in (
        deliver(client, ev, signature=forged),
        deliver(client, ev, signature=old),
        deliver(client, tampered),
        deliver(client, {**ev, "connect": True}),  # the Connect endpoint has another secret
    ):
        assert r.status_code == 400
    assert db_row("SELECT count(*) FROM stripe_events WHERE id = %s", ev["id"])[0] == 0
    assert _status(db_row, clinic) == "trialing"  # as signup left it
    assert db_row(
        "SELECT stripe_subscription_id FROM clinic_subscriptions WHERE tenant_id = %s", clinic.id
    ) == (None,)


def test_webhook_urls_need_no_csrf_token_but_pages_do(app, stripe_server, make_clinic):
    """The webhook endpoints are CSRF-exempt; the billing forms are not."""
    clinic = make_clinic()
    owner = Console(app, clinic)
    r = owner.client.post("/console/billing/subscribe", data={"plan": "solo"}, base_url=owner.base)
    assert r.status_code == 400


def _sub_events(app, clinic, stripe_server, sc):
    _, cs_id = _subscribe(app, clinic, stripe_server)
    client = new_client(app)
    apply_events(app, client, stripe_server.complete(cs_id))
    sub_id = sc.v1.checkout.sessions.retrieve(cs_id).subscription
    return client, sub_id


def test_replays_sequential_and_concurrent_have_one_effect(
    app, make_clinic, stripe_server, sc, db_row
):
    """The same event five times in a row and five times at once: one row, one status change."""
    from workers.billing import process_event

    clinic = make_clinic()
    client, sub_id = _sub_events(app, clinic, stripe_server, sc)
    fail = stripe_server.subscription(sub_id, "fail_payment")
    for ev in fail:
        for _ in range(5):
            assert deliver(client, ev).status_code == 200
    results = []

    def run(ev):
        c = new_client(app)
        results.append(deliver(c, ev).status_code)
        with app.app_context():
            process_event(ev["id"])

    threads = [threading.Thread(target=run, args=(ev,)) for ev in fail for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(threads)
    for ev in fail:
        assert db_row("SELECT count(*) FROM stripe_events WHERE id = %s", ev["id"])[0] == 1
        with app.app_context():
            assert process_event(ev["id"]) is None  # already applied
    changes = db_row(
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'tenant.status_changed'"
        " AND data->>'to' = 'past_due'",
        clinic.id,
    )[0]
    assert changes == 1
    assert _status(db_row, clinic) == "past_due"


def test_events_out_of_order_end_in_the_newest_state(app, make_clinic, stripe_server, sc, db_row):
    """A payment recovered, then the older failure arrives late: the clinic stays active."""
    clinic = make_clinic()
    client, sub_id = _sub_events(app, clinic, stripe_server, sc)
    failed = stripe_server.subscription(sub_id, "fail_payment")
    paid = stripe_server.subscription(sub_id, "pay")
    outcomes = apply_events(app, client, paid + failed)
    assert outcomes[-2:] == ["stale", "stale"], outcomes
    assert _status(db_row, clinic) == "active"
    assert db_row(
        "SELECT status FROM clinic_subscriptions WHERE tenant_id = %s", clinic.id
    )[0] == "active"


def test_one_clinics_event_cannot_move_another_clinic(app, make_clinic, stripe_server, sc, db_row):
    """Clinic B's id in A's subscription metadata: the customer does not match, nothing moves."""
    a, b = make_clinic(), make_clinic()
    client, sub_id = _sub_events(app, a, stripe_server, sc)
    _sub_events(app, b, stripe_server, sc)
    events = stripe_server.subscription(sub_id, "fail_payment")
    from billing.stripe_server import sign

    forged = []
    for ev in events:
        payload = ev["payload"].replace(str(a.id), str(b.id)).replace(ev["id"], ev["id"] + "x")
        forged.append(
            {**ev, "id": ev["id"] + "x", "payload": payload,
             "signature": sign(payload, stripe_server.secret)}
        )
    outcomes = apply_events(app, client, forged)
    assert all(o.startswith("ignored") for o in outcomes), outcomes
    assert _status(db_row, b) == "trialing"
    assert _status(db_row, a) == "trialing"
    assert json.loads(forged[0]["payload"])["data"]["object"]["parent"]["subscription_details"][
        "metadata"
    ]["tenant_id"] == str(b.id)


def test_connect_onboarding_state_from_account_updated(app, make_clinic, stripe_server, db_row):
    """The owner starts Express onboarding; ``account.updated`` shows it finished."""
    clinic = make_clinic()
    owner = Console(app, clinic)
    assert "Connect with Stripe" in owner.text("/console/billing/")
    r = owner.post("/console/billing/connect", form_page="/console/billing/")
    assert r.status_code == 303 and "/connect/onboarding/" in r.location
    acct = r.location.rsplit("/", 1)[1]
    assert db_row("SELECT account_id FROM connect_accounts WHERE tenant_id = %s", clinic.id)[0] == acct
    page = owner.text("/console/billing/")
    assert "Finish onboarding" in page
    # again: the same account, a fresh link
    r = owner.post("/console/billing/connect", form_page="/console/billing/")
    assert r.location.endswith(acct)
    apply_events(app, new_client(app), stripe_server.onboard(acct))
    row = db_row(
        "SELECT details_submitted, charges_enabled, payouts_enabled FROM connect_accounts"
        " WHERE tenant_id = %s",
        clinic.id,
    )
    assert row == (True, True, True)
    assert "Finish onboarding" not in owner.text("/console/billing/")


def test_account_event_for_another_clinics_account_is_ignored(
    app, make_clinic, stripe_server, db_row
):
    """An account claiming clinic B in its metadata cannot update B's Connect state."""
    a, b = make_clinic(), make_clinic()
    for clinic in (a, b):
        Console(app, clinic).post("/console/billing/connect", form_page="/console/billing/")
    acct_a = db_row("SELECT account_id FROM connect_accounts WHERE tenant_id = %s", a.id)[0]
    from billing.stripe_server import sign

    (ev,) = stripe_server.onboard(acct_a)
    payload = ev["payload"].replace(str(a.id), str(b.id)).replace(ev["id"], ev["id"] + "x")
    forged = {**ev, "id": ev["id"] + "x", "payload": payload,
              "signature": sign(payload, stripe_server.connect_secret)}
    (outcome,) = apply_events(app, new_client(app), [forged])
    assert outcome.startswith("ignored")
    assert db_row("SELECT charges_enabled FROM connect_accounts WHERE tenant_id = %s", b.id)[0] is False


@pytest.mark.parametrize("mode", ["500", "timeout"])
def test_stripe_failure_is_retried_with_the_same_key(app, make_clinic, stripe_server, mode):
    """A 500 or a timeout on creating the checkout is retried with the same key: one session."""
    clinic = make_clinic()
    owner = Console(app, clinic)
    stripe_server.fault("/v1/checkout/sessions", mode, seconds=6)
    r = owner.post("/console/billing/subscribe", {"plan": "group"}, form_page="/console/billing/")
    assert r.status_code == 303
    keys = [
        q for q in stripe_server.requests()
        if q["path"] == "/v1/checkout/sessions" and f"subscribe:{clinic.id}:group" in (q["idempotency_key"] or "")
    ]
    assert len(keys) == 2 and len({q["idempotency_key"] for q in keys}) == 1 and keys[1]["replayed"]


def test_an_extended_trial_moves_the_stripe_trial_and_keeps_it(
    app, make_clinic, stripe_server, sc, db_row
):
    """An operator extends the trial of a clinic that subscribed in it: Stripe's trial moves.

    The job runs after the operator's commit; Stripe's webhook then reports the new end and
    the clinic keeps it (before, the next subscription event wrote the old end back).
    """
    from tests.admin.platform.conftest import Ops, create_operator_account
    from workers.billing import run_trial_sync

    clinic = make_clinic()
    client = new_client(app)
    _, cs_id = _subscribe(app, clinic, stripe_server)
    apply_events(app, client, stripe_server.complete(cs_id))
    sub_id = sc.v1.checkout.sessions.retrieve(cs_id).subscription
    (old_end,) = db_row("SELECT trial_ends_at FROM tenants WHERE id = %s", clinic.id)
    assert sc.v1.subscriptions.retrieve(sub_id).trial_end == int(old_end.timestamp())

    ops = Ops(app, create_operator_account(app, "admin"))
    page = f"/ops/tenants/{clinic.id}"
    r = ops.post(f"{page}/trial", {"trial-days": "10", "trial-reason": "Fair visit"}, form_page=page)
    assert r.status_code == 302
    (new_end,) = db_row("SELECT trial_ends_at FROM tenants WHERE id = %s", clinic.id)
    assert new_end - old_end == dt.timedelta(days=10)
    assert db_row(
        "SELECT count(*) FROM outbox WHERE tenant_id = %s AND topic = 'job.sync_trial'", clinic.id
    ) == (1,)

    with app.app_context():
        assert run_trial_sync(str(clinic.id)) == "trial moved"
    sub = sc.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "trialing" and sub.trial_end == int(new_end.timestamp())
    # the webhook of that change agrees with the clinic's trial end, and keeps it
    changed = stripe_server.events("customer.subscription.updated", sub_id)[-1:]
    assert len(changed) == 1 and apply_events(app, client, changed) != [None]
    assert db_row("SELECT trial_ends_at, status FROM tenants WHERE id = %s", clinic.id) == (
        new_end,
        "trialing",
    )
    # a second run repeats the same request (same key): Stripe answers it once
    with app.app_context():
        assert run_trial_sync(str(clinic.id)) == "trial moved"
    posts = [
        q
        for q in stripe_server.requests()
        if q["method"] == "POST" and q["path"] == f"/v1/subscriptions/{sub_id}"
    ]
    key = f"similia:trial:{clinic.id}:{int(new_end.timestamp())}"
    assert [q["idempotency_key"] for q in posts] == [key, key]
    assert [bool(q["replayed"]) for q in posts] == [False, True]


def test_no_trial_to_move_without_a_subscription(app, make_clinic):
    """A clinic that never subscribed: the job has nothing to do and calls nobody."""
    from workers.billing import run_trial_sync

    clinic = make_clinic()
    with app.app_context():
        assert run_trial_sync(str(clinic.id)) == "no subscription in trial"
