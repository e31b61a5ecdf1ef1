"""The trial starts at signup and ends by the hourly sweep: past due, grace, suspended, paid.

The sweep runs with a clock the test gives it (``now``) and only over the test's clinics
(``only``), so other tests' clinics are never moved.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from billing.lifecycle import GRACE_DAYS, sweep
from tests.admin.clinic.console import Console
from tests.client import new_client

from .conftest import apply_events


def _state(db_row, clinic):
    return db_row(
        "SELECT status, trial_ends_at, created_at, status_changed_at FROM tenants WHERE id = %s",
        clinic.id,
    )


def _moves(db_row, clinic):
    return db_row(
        "SELECT array_agg(data->>'to' ORDER BY seq), array_agg(actor_label ORDER BY seq)"
        " FROM audit_log WHERE tenant_id = %s AND action = 'tenant.status_changed'",
        clinic.id,
    )


def test_signup_starts_a_14_day_trial(app, make_clinic, db_row):
    """A new clinic is ``trialing`` with its trial ending 14 days after signup."""
    clinic = make_clinic()
    status, trial_end, created, _ = _state(db_row, clinic)
    assert status == "trialing"
    assert abs(trial_end - (created + dt.timedelta(days=14))) < dt.timedelta(minutes=1)


def test_trial_end_past_due_grace_suspended(app, make_clinic, db_row):
    """Trial over without a subscription → past due; after the grace → suspended; audited."""
    clinic, other = make_clinic(), make_clinic()
    trial_end = _state(db_row, clinic)[1]

    def run(now):
        with app.app_context():
            return sweep(now=now, only=[clinic.id])

    assert run(trial_end - dt.timedelta(minutes=1)) == {}
    assert _state(db_row, clinic)[0] == "trialing"
    at = trial_end + dt.timedelta(hours=1)
    assert run(at) == {str(clinic.id): "past_due"}
    assert _state(db_row, clinic)[0] == "past_due"
    assert _state(db_row, clinic)[3] == at
    # the banner on a console page that is not the billing page names the date
    owner = Console(app, clinic)
    page = owner.text("/console/")
    assert "data-past-due" in page and 'href="/console/billing/"' in page
    ends = at + dt.timedelta(days=GRACE_DAYS)
    assert ends.strftime("%d %b %Y, %H:%M") in page
    # a receptionist sees the banner without the owner's link
    desk_page = Console(app, clinic, "receptionist").text("/console/")
    assert "data-past-due" in desk_page and 'href="/console/billing/"' not in desk_page
    # inside the grace nothing moves; the sweep is idempotent
    assert run(ends - dt.timedelta(minutes=1)) == {}
    assert run(ends + dt.timedelta(minutes=1)) == {str(clinic.id): "suspended"}
    assert run(ends + dt.timedelta(days=30)) == {}
    assert _state(db_row, clinic)[0] == "suspended"
    assert _state(db_row, other)[0] == "trialing"
    moves, actors = _moves(db_row, clinic)
    assert moves == ["past_due", "suspended"]
    assert actors == ["system:billing", "system:billing"]
    # suspended: the console stays read-only, the banner is the paused one
    page = owner.text("/console/")
    assert "data-paused" in page and "data-past-due" not in page


def test_active_clinic_has_no_banner(app, make_clinic):
    """A trialing clinic's console shows no past-due banner."""
    clinic = make_clinic()
    assert "data-past-due" not in Console(app, clinic).text("/console/")


def _subscribe(app, clinic, stripe_server, sc, owner):
    r = owner.post("/console/billing/subscribe", {"plan": "solo"}, form_page="/console/billing/")
    assert r.status_code == 303
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    apply_events(app, new_client(app), stripe_server.complete(cs_id))
    return sc.v1.checkout.sessions.retrieve(cs_id).subscription


def test_extended_trial_is_the_subscriptions_trial_and_the_sweep_leaves_it(
    app, make_clinic, stripe_server, sc, db_row, owner_dsn
):
    """The trial end an operator set is Checkout's trial_end; a subscribed clinic is not swept."""
    import psycopg

    clinic = make_clinic()
    extended = (_state(db_row, clinic)[1] + dt.timedelta(days=10)).replace(microsecond=0)
    with psycopg.connect(owner_dsn) as conn:  # what the operator's "extend trial" writes
        conn.execute("UPDATE tenants SET trial_ends_at = %s WHERE id = %s", (extended, clinic.id))
    owner = Console(app, clinic)
    assert extended.strftime("%d %b %Y") in owner.text("/console/billing/")
    sub_id = _subscribe(app, clinic, stripe_server, sc, owner)
    sub = stripe_server.object(sub_id)
    assert sub["trial_end"] == int(extended.timestamp()) and sub["status"] == "trialing"
    assert _state(db_row, clinic)[1] == extended
    with app.app_context():
        assert sweep(now=extended + dt.timedelta(hours=1), only=[clinic.id]) == {}
    assert _state(db_row, clinic)[0] == "trialing"


def test_past_due_clinic_whose_invoice_was_paid_becomes_active(
    app, make_clinic, stripe_server, sc, db_row, owner_dsn
):
    """The sweep repairs a past-due clinic whose subscription Stripe reports active."""
    clinic = make_clinic()
    owner = Console(app, clinic)
    sub_id = _subscribe(app, clinic, stripe_server, sc, owner)
    client = new_client(app)
    apply_events(app, client, stripe_server.subscription(sub_id, "end_trial"))
    apply_events(app, client, stripe_server.subscription(sub_id, "fail_payment"))
    assert _state(db_row, clinic)[0] == "past_due"
    # the webhook of the paid invoice moved the subscription; the clinic's move was missed
    import psycopg

    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE clinic_subscriptions SET status = 'active' WHERE tenant_id = %s", (clinic.id,)
        )
    with app.app_context():
        assert sweep(only=[clinic.id]) == {str(clinic.id): "active"}
    assert _state(db_row, clinic)[0] == "active"
