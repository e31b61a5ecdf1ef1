"""Billing fixtures: the local Stripe test server (started with the session) and its controls."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import pytest
import stripe


@dataclass
class StripeTestServer:
    """Controls of :mod:`billing.stripe_server` over HTTP (``/_test/...``)."""

    base: str
    secret: str
    connect_secret: str

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body or {}).encode() if method == "POST" else None,
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def complete(self, session_id: str, outcome: str = "paid") -> list[dict]:
        """Pay or decline a checkout session; the signed events it caused."""
        return self._call("POST", f"/_test/checkout/{session_id}/complete", {"outcome": outcome})[
            "events"
        ]

    def expire(self, session_id: str) -> list[dict]:
        """Let a checkout session expire."""
        return self._call("POST", f"/_test/checkout/{session_id}/expire")["events"]

    def subscription(self, sub_id: str, what: str) -> list[dict]:
        """``fail_payment`` / ``exhaust`` / ``pay`` / ``end_trial``."""
        return self._call("POST", f"/_test/subscriptions/{sub_id}/{what}")["events"]

    def onboard(self, account_id: str) -> list[dict]:
        """Finish Connect onboarding of an account."""
        return self._call("POST", f"/_test/accounts/{account_id}/onboard")["events"]

    def refund_status(self, refund_id: str, status: str) -> list[dict]:
        """A refund's later fate (``failed``/``canceled``/``succeeded``): ``refund.updated``."""
        return self._call("POST", f"/_test/refunds/{refund_id}/{status}")["events"]

    def events(self, type_: str | None = None, about: str | None = None) -> list[dict]:
        """Signed events produced so far (of one type, about one object id), in order."""
        out = []
        for ev in self._call("GET", "/_test/events")["data"]:
            if type_ and ev["type"] != type_:
                continue
            if about and json.loads(ev["payload"])["data"]["object"].get("id") != about:
                continue
            out.append(ev)
        return out

    def fault(self, path: str, mode: str, count: int = 1, **extra) -> None:
        """Inject a fault for the next ``count`` requests under ``path``."""
        self._call("POST", "/_test/faults", {"path": path, "mode": mode, "count": count, **extra})

    def clear_faults(self) -> None:
        """Forget injected faults."""
        self._call("POST", "/_test/faults", {"clear": True})

    def requests(self) -> list[dict]:
        """Every API request the server saw."""
        return self._call("GET", "/_test/requests")["data"]

    def object(self, ident: str) -> dict:
        """Any stored object (whatever its account)."""
        return self._call("GET", f"/_test/objects/{ident}")["object"]

    def client(self, **kwargs) -> stripe.StripeClient:
        """An official client pointed at the server."""
        return stripe.StripeClient(
            "sk_test_local",
            base_addresses={"api": self.base},
            http_client=stripe.RequestsClient(timeout=kwargs.pop("timeout", 5)),
            **kwargs,
        )


@pytest.fixture(scope="session")
def stripe_server(service_env) -> StripeTestServer:
    """The session's Stripe test server (skips when real Stripe keys are configured)."""
    base = service_env.get("STRIPE_API_BASE")
    if not base:
        pytest.skip("STRIPE_SECRET_KEY points at Stripe itself; these tests need the test server")
    return StripeTestServer(
        base, service_env["STRIPE_WEBHOOK_SECRET"], service_env["STRIPE_CONNECT_WEBHOOK_SECRET"]
    )


@pytest.fixture
def sc(stripe_server):
    """An official ``StripeClient`` on the test server."""
    return stripe_server.client()


PLATFORM = "http://localhost"


def deliver(client, ev: dict, *, signature: str | None = None):
    """POST a signed event to the endpoint it belongs to (platform or Connect)."""
    path = "/stripe/connect-webhook" if ev["connect"] else "/stripe/webhook"
    return client.post(
        path,
        data=ev["payload"],
        headers={"Stripe-Signature": signature or ev["signature"], "Content-Type": "application/json"},
        base_url=PLATFORM,
    )


def apply_events(app, client, events: list[dict]) -> list[str | None]:
    """Deliver events and apply them as the worker does; their outcomes."""
    from workers.billing import process_event

    outcomes = []
    seen = set()
    for ev in events:
        r = deliver(client, ev)
        assert r.status_code == 200, r.get_data(as_text=True)
        with app.app_context():
            outcome = process_event(ev["id"])
        if outcome is None and ev["id"] not in seen and r.get_json().get("duplicate") is False:
            # the session's real worker took the kick first: its outcome is the one stored
            outcome = _stored_outcome(app, ev["id"])
        seen.add(ev["id"])
        outcomes.append(outcome)
    return outcomes


def _stored_outcome(app, event_id: str, timeout: float = 15.0) -> str | None:
    """The outcome a worker stored for ``event_id`` (waits for it to commit)."""
    import time

    import psycopg

    deadline = time.monotonic() + timeout
    dsn = app.config["SIMILIA"].database_url.replace("postgresql+psycopg://", "postgresql://")
    while True:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT processed_at, outcome FROM stripe_events WHERE id = %s", (event_id,)
            ).fetchone()
        if row is not None and row[0] is not None:
            return row[1]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


@pytest.fixture
def db_row(owner_dsn):
    """``db_row(sql, *params)``: one row, read as the owner (no RLS)."""
    import psycopg

    def get(sql: str, *params):
        with psycopg.connect(owner_dsn) as conn:
            return conn.execute(sql, params).fetchone()

    return get
