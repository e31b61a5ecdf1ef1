"""The sweep visits only clinics with a due message; two schedulers never both enqueue."""

from __future__ import annotations

import datetime as dt
import json
import time

import psycopg
import pytest

from saas import outbox
from tests.factories import ClinicFactory
from tests.factories.base import clinic_session


@pytest.fixture
def relay_mod(app):
    from workers import outbox as relay_mod

    return relay_mod


def _sql(owner_dsn, query, *params):
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def _settle(app, relay_mod, owner_dsn, tenant_id):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with app.app_context():
            relay_mod.relay(str(tenant_id))
        busy = _sql(
            owner_dsn,
            "SELECT count(*) FROM outbox WHERE tenant_id = %s AND state IN ('queued', 'sending')",
            tenant_id,
        )
        if busy == [(0,)]:
            return
        time.sleep(0.1)
    raise AssertionError("outbox did not settle")


def _due_at(owner_dsn, tenant_id):
    return _sql(owner_dsn, "SELECT outbox_due_at FROM tenants WHERE id = %s", tenant_id)[0][0]


def test_only_clinics_with_due_messages_are_swept(app, relay_mod, owner_dsn):
    failing, done, idle = ClinicFactory(), ClinicFactory(), ClinicFactory()
    with clinic_session(app, failing.id) as sess:
        outbox.emit(sess, failing.id, "job.no_such_job", {})
    with clinic_session(app, done.id) as sess:
        outbox.emit(
            sess,
            done.id,
            "email.sign_in_link",
            {"to": "d@example.org", "subject": "s", "body": "b"},
        )
    _settle(app, relay_mod, owner_dsn, failing.id)
    _settle(app, relay_mod, owner_dsn, done.id)
    (retry_at,) = _sql(
        owner_dsn, "SELECT next_attempt_at FROM outbox WHERE tenant_id = %s", failing.id
    )[0]
    assert _due_at(owner_dsn, failing.id) == retry_at  # the retry time, for the sweep
    assert _due_at(owner_dsn, done.id) is None
    with app.app_context():
        due = set(relay_mod.due_clinics())
    assert not {str(failing.id), str(done.id), str(idle.id)} & due
    # time passes: the retry falls due and only that clinic is swept
    _sql(owner_dsn, "UPDATE outbox SET next_attempt_at = now() WHERE tenant_id = %s", failing.id)
    _sql(owner_dsn, "UPDATE tenants SET outbox_due_at = now() WHERE id = %s", failing.id)
    with app.app_context():
        due = set(relay_mod.due_clinics())
    assert str(failing.id) in due and not {str(done.id), str(idle.id)} & due


@pytest.mark.parametrize("status", ["suspended", "closing"])
def test_a_suspended_or_closing_clinics_due_messages_are_still_swept(
    app, relay_mod, owner_dsn, status
):
    """Its people are still owed their messages (closing notice, export link); deleted is not."""
    clinic = ClinicFactory()
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(sess, clinic.id, "job.no_such_job", {})
    _sql(owner_dsn, "UPDATE tenants SET status = %s, outbox_due_at = now() WHERE id = %s",
         status, clinic.id)  # fmt: skip
    with app.app_context():
        assert str(clinic.id) in set(relay_mod.due_clinics())
    _sql(owner_dsn, "UPDATE tenants SET status = 'deleted' WHERE id = %s", clinic.id)
    with app.app_context():
        assert str(clinic.id) not in set(relay_mod.due_clinics())


def test_planned_reminders_mark_the_clinic_due_at_the_first_send_time(app, owner_dsn):
    from saas.models import Tenant

    clinic = ClinicFactory()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(sess, clinic.id, "job.no_such_job", {}).next_attempt_at = later
        sess.flush()
        outbox.mark_due(sess, clinic.id)
        assert sess.get(Tenant, clinic.id) is not None
    assert abs((_due_at(owner_dsn, clinic.id) - later).total_seconds()) < 1


def test_the_sweep_query_stays_flat_with_ten_thousand_idle_clinics(app, owner_dsn):
    """10,000 idle clinics and 10 with work: the sweep reads the partial index only."""
    with psycopg.connect(owner_dsn) as conn:  # rolled back at the end
        conn.execute(
            "INSERT INTO tenants (id, slug, name, timezone, country, currency, status)"
            " SELECT gen_random_uuid(), 'idle-' || n, 'Idle ' || n, 'UTC', 'GB', 'GBP', 'active'"
            " FROM generate_series(1, 10000) n"
        )
        conn.execute(
            "UPDATE tenants SET outbox_due_at = now() - interval '1 minute'"
            " WHERE slug IN (SELECT 'idle-' || n FROM generate_series(1, 10) n)"
        )
        conn.execute("ANALYZE tenants")
        with app.app_context():
            from workers.outbox import CLOCK_SLACK, SENDING

            # the predicate of workers.outbox.due_clinics
            query = (
                "SELECT id FROM tenants WHERE outbox_due_at IS NOT NULL"
                " AND outbox_due_at <= now() + %s AND status = ANY(%s)"
                " ORDER BY outbox_due_at LIMIT 5000"
            )
            plan = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query,
                (CLOCK_SLACK, list(SENDING)),
            ).fetchone()[0]
        conn.rollback()
    text_plan = json.dumps(plan)
    assert "ix_tenants_outbox_due" in text_plan
    assert plan[0]["Plan"]["Actual Rows"] >= 10
    assert (
        plan[0]["Plan"].get("Shared Hit Blocks", 0) + plan[0]["Plan"].get("Shared Read Blocks", 0)
        < 50
    )


def test_only_one_scheduler_enqueues(app):
    from workers.scheduler import leadership

    engine = app.extensions["similia.engine"]
    first, second = engine.connect(), engine.connect()
    try:
        assert leadership(first) is True
        assert leadership(second) is False
        assert leadership(first) is True  # still the leader
        first.invalidate()  # the first scheduler's process ends: its connection closes
        # The server ends the first backend (and frees its lock) a moment after the socket
        # closes: the second copy takes over on one of its next ticks.
        deadline = time.monotonic() + 10
        while not leadership(second) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leadership(second) is True  # takes over once the first one is gone
    finally:
        first.close()
        second.close()
