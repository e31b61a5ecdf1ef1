"""Plan limits: practitioners and locations beyond the plan are refused, overrides respected.

The default plan (Clinic) allows 5 active practitioners and 2 locations; an operator's
override (``tenants.limit_overrides``) changes one clinic's limit. Two concurrent adds at the
limit minus one let exactly one through (the clinic's row is locked before counting).
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import psycopg

from billing.limits import sms_allowance
from saas.db import tenant_session
from saas.exceptions import Conflict
from saas.models import Tenant, utcnow
from saas.scheduling.practice import locations
from tests.admin.clinic.console import Console
from tests.client import check
from tests.factories import PracticeFactory
from tests.helpers import csrf_from


def _count(owner_dsn, table, clinic) -> int:
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s AND is_active", (clinic.id,)
        ).fetchone()[0]


def _sql(owner_dsn, sql, *params):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(sql, params)


def test_location_beyond_the_plan_is_refused_with_409_naming_the_limit(app, owner_dsn):
    """A third location on the Clinic plan → 409 plan_limit; nothing is created."""
    p = PracticeFactory()
    check(p.owner.post("/api/v1/practice/locations", {"name": "Video", "kind": "online"}), 201)
    r = p.owner.post("/api/v1/practice/locations", {"name": "Annex", "address": "2 Lane"})
    body = check(r, 409)
    assert body["reason"] == "plan_limit"
    assert "2 active locations" in body["errors"]["json"]["max_locations"][0]
    assert _count(owner_dsn, "locations", p.clinic) == 2
    # archiving one makes room; restoring it again at the limit is refused the same way
    video = next(
        x for x in check(p.owner.get("/api/v1/practice/locations"), 200) if x["name"] == "Video"
    )
    check(
        p.owner.send("PATCH", f"/api/v1/practice/locations/{video['id']}", {"is_active": False}),
        200,
    )
    check(p.owner.post("/api/v1/practice/locations", {"name": "Annex", "address": "2 Lane"}), 201)
    again = p.owner.send("PATCH", f"/api/v1/practice/locations/{video['id']}", {"is_active": True})
    assert check(again, 409)["reason"] == "plan_limit"
    assert _count(owner_dsn, "locations", p.clinic) == 2


def test_operator_override_and_plan_change_are_respected(app, owner_dsn):
    """An override raises one clinic's limit; the Solo plan allows one practitioner."""
    p = PracticeFactory()
    _sql(
        owner_dsn,
        "UPDATE tenants SET limit_overrides = %s WHERE id = %s",
        json.dumps({"max_locations": 3}),
        p.clinic.id,
    )
    for name in ("Video", "Annex"):
        check(p.owner.post("/api/v1/practice/locations", {"name": name, "address": "x"}), 201)
    assert check(p.owner.post("/api/v1/practice/locations", {"name": "Four", "address": "x"}), 409)
    _sql(
        owner_dsn,
        "INSERT INTO clinic_subscriptions (tenant_id, plan_code, status) VALUES (%s, 'solo', 'active')",
        p.clinic.id,
    )
    r = p.owner.post("/api/v1/practice/practitioners", {"display_name": "Dr. Two"})
    body = check(r, 409)
    assert body["reason"] == "plan_limit" and "Solo" in body["message"]
    assert "max_practitioners" in body["errors"]["json"]
    assert _count(owner_dsn, "practitioners", p.clinic) == 1


def test_console_form_shows_the_limit_and_keeps_the_input(app, owner_dsn):
    """On the console page the refusal is an error summary; the typed name stays."""
    p = PracticeFactory()
    _sql(
        owner_dsn,
        "UPDATE tenants SET limit_overrides = %s WHERE id = %s",
        json.dumps({"max_practitioners": 1}),
        p.clinic.id,
    )
    console = Console(app, p.clinic)
    page = console.get("/console/practice/practitioners")
    r = console.client.post(
        "/console/practice/practitioners",
        data={"csrf_token": csrf_from(page.data), "display_name": "Dr. Newcomer", "user_id": ""},
        base_url=console.base,
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "error-summary" in html and "1 active practitioners" in html
    assert 'value="Dr. Newcomer"' in html
    assert _count(owner_dsn, "practitioners", p.clinic) == 1


def test_two_concurrent_adds_at_the_limit_minus_one_let_exactly_one_through(app, owner_dsn):
    """Two real connections add a location at once with one place left: one wins, one 409."""
    p = PracticeFactory()  # 1 of 2 locations
    barrier = threading.Barrier(2)
    results: list[str] = []

    def add(name: str) -> None:
        try:
            with app.app_context(), tenant_session(p.clinic.id) as sess:
                tenant = sess.get(Tenant, p.clinic.id)
                barrier.wait(timeout=10)
                from saas.actors import SYSTEM

                locations.create_location(sess, tenant, SYSTEM, {"name": name, "address": "x"})
            results.append("created")
        except Conflict as exc:
            results.append(exc.reason or "conflict")

    threads = [threading.Thread(target=add, args=(n,)) for n in ("North", "South")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["created", "plan_limit"]
    assert _count(owner_dsn, "locations", p.clinic) == 2


def test_sms_allowance_counts_this_months_texts(app, make_clinic, owner_dsn):
    """Texts sent this month (the relay's ``sms_usage``) count against the plan; older not."""
    clinic = make_clinic()
    now = utcnow()
    this_month = now.date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=3)).replace(day=1)
    with psycopg.connect(owner_dsn) as conn:
        for month, n in ((this_month, 2), (last_month, 7)):
            conn.execute(
                "INSERT INTO sms_usage (tenant_id, month, messages, segments)"
                " VALUES (%s, %s, %s, %s)",
                (clinic.id, month, n, n),
            )
    with app.app_context(), tenant_session(clinic.id) as sess:
        allowance = sms_allowance(sess, clinic.id, now=now + dt.timedelta(seconds=1))
    assert (allowance.used, allowance.limit, allowance.remaining) == (2, 500, 498)
    _sql(
        owner_dsn,
        "UPDATE tenants SET limit_overrides = %s WHERE id = %s",
        json.dumps({"sms_per_month": 2}),
        clinic.id,
    )
    with app.app_context(), tenant_session(clinic.id) as sess:
        allowance = sms_allowance(sess, clinic.id, now=now + dt.timedelta(seconds=1))
    assert allowance.exhausted and allowance.remaining == 0
