"""An operator admin closes a clinic whose contract ended; support operators cannot."""

from __future__ import annotations

import psycopg

from tests.admin.platform.conftest import Ops


def _sql(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        return conn.execute(query, params).fetchall()


def _status(owner_dsn, clinic) -> str:
    return _sql(owner_dsn, "SELECT status FROM tenants WHERE id = %s", (clinic.id,))[0][0]


def test_operator_admin_closes_a_terminated_clinic(app, ops, operator, make_clinic, owner_dsn):
    """Admins close with a reason (owner emailed, both logs); support operators are refused."""
    clinic = make_clinic()
    page = f"/ops/tenants/{clinic.id}"
    support = Ops(app, operator("support"))
    assert support.post(f"{page}/close", {"close-reason": "x"}, form_page=page).status_code == 403
    r = ops.post(f"{page}/close", {"close-reason": ""}, form_page=page)
    assert r.status_code == 422 and _status(owner_dsn, clinic) == "trialing"
    r = ops.post(f"{page}/close", {"close-reason": "Contract 88 terminated"}, form_page=page)
    assert r.status_code == 302 and _status(owner_dsn, clinic) == "closing"
    assert b"data-delete-after" in ops.get(page).data
    mails = _sql(
        owner_dsn,
        "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = 'email.platform_notice'",
        (clinic.id,),
    )
    assert mails and all(
        "Contract 88 terminated" in m["body"] or m["body"] == "[delivered]" for (m,) in mails
    )
    ((kind, data),) = _sql(
        owner_dsn,
        "SELECT actor_kind, data FROM audit_log WHERE tenant_id = %s "
        "AND action = 'tenant.deletion_requested'",
        (clinic.id,),
    )
    assert kind == "operator" and data["reason"] == "Contract 88 terminated"
