"""A clinic moves through the states of :mod:`tenants.status`, each change audited."""

from __future__ import annotations

import psycopg
import pytest

from saas.actors import SYSTEM
from saas.db import tenant_session
from saas.exceptions import Conflict
from saas.models import Tenant
from tenants.status import change_status


def _status_and_audit(owner_dsn, tenant_id):
    with psycopg.connect(owner_dsn) as conn:
        status = conn.execute("SELECT status FROM tenants WHERE id = %s", (tenant_id,)).fetchone()
        rows = conn.execute(
            "SELECT data->>'from', data->>'to', data->>'reason' FROM audit_log"
            " WHERE tenant_id = %s AND action = 'tenant.status_changed' ORDER BY seq",
            (tenant_id,),
        ).fetchall()
    return status[0], rows


def test_every_state_is_storable_and_each_change_is_audited(app, make_clinic, owner_dsn):
    """A clinic goes (trialing →) active → trialing → past_due → suspended → closing → active."""
    clinic = make_clinic()  # signup starts the free trial
    path = ["active", "trialing", "past_due", "suspended", "closing", "active"]
    for new in path:
        with app.app_context(), tenant_session(clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            change_status(sess, tenant, new, actor=SYSTEM, reason=f"to {new}")
    status, rows = _status_and_audit(owner_dsn, clinic.id)
    assert status == "active"
    assert [(r[1], r[2]) for r in rows] == [(s, f"to {s}") for s in path]
    assert rows[0][0] == "trialing" and rows[3][0] == "past_due"


def test_a_forbidden_change_is_refused_and_changes_nothing(app, make_clinic, owner_dsn):
    """past_due cannot go back to trialing; the status and audit log stay as they were."""
    clinic = make_clinic()
    with app.app_context(), tenant_session(clinic.id) as sess:
        change_status(sess, sess.get(Tenant, clinic.id), "past_due", actor=SYSTEM, reason="card")
    with pytest.raises(Conflict), app.app_context(), tenant_session(clinic.id) as sess:
        change_status(sess, sess.get(Tenant, clinic.id), "trialing", actor=SYSTEM, reason="x")
    status, rows = _status_and_audit(owner_dsn, clinic.id)
    assert status == "past_due" and len(rows) == 1


def test_the_database_refuses_an_unknown_state(make_clinic, owner_dsn):
    """The check constraint holds the vocabulary even for a direct write."""
    clinic = make_clinic()
    with pytest.raises(psycopg.errors.CheckViolation), psycopg.connect(owner_dsn) as conn:
        conn.execute("UPDATE tenants SET status = 'paused' WHERE id = %s", (clinic.id,))
