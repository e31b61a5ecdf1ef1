"""Consented support access and owner help, through the console's and /ops pages.

- The owner grants support access (1, 4 or 24 hours) in the console; the console shows a
  banner while it lasts; both audit logs record the grant, each visit and the revocation.
- An operator sees the clinic's staff, settings and message states (never a payload), only
  while the grant is active — by the database clock; Postgres refuses a message's payload.
- Another clinic's grant opens nothing of this clinic; non-owners cannot grant.
- Owner help: a password reset link or a fresh owner invitation goes by email (outbox).
"""

from __future__ import annotations

import psycopg
import pytest

from tests.admin.clinic.console import Console
from tests.admin.platform.conftest import Ops
from tests.admin.platform.test_blindness import MARKER
from tests.factories import PatientFactory


@pytest.fixture
def ops_dsn(app):
    """Psycopg DSN of the operator console's role."""
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SIMILIA"].ops_database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sql(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        return conn.execute(query, params).fetchall()


def _expire(owner_dsn, clinic) -> None:
    """Time passes: the grant's end moves a second into the past of the database clock."""
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        conn.execute(
            "UPDATE support_grants SET expires_at = now() - interval '1 second' "
            "WHERE tenant_id = %s AND revoked_at IS NULL",
            (clinic.id,),
        )


def _actions(owner_dsn, table, column, clinic) -> list[str]:
    return [
        a
        for (a,) in _sql(
            owner_dsn,
            f"SELECT action FROM {table} WHERE {column} = %s AND action LIKE 'support.%%' "
            "ORDER BY seq",
            (clinic.id,),
        )
    ]


def test_owner_grants_operator_sees_then_revokes(app, ops, make_clinic, owner_dsn):
    """Grant → the operator sees staff and message states; revoke → refused; both logs."""
    clinic, other = make_clinic(), make_clinic()
    PatientFactory(clinic=clinic, full_name=f"Patient {MARKER}")
    owner = Console(app, clinic, "owner")
    support = f"/ops/tenants/{clinic.id}/support"
    r = ops.get(support)
    assert r.status_code == 403 and b"has not allowed support access" in r.data
    assert b"data-support-off" in ops.get(f"/ops/tenants/{clinic.id}").data

    page = owner.text("/console/support-access")
    assert "Support access is off." in page and "data-support-access" not in page
    r = owner.post("/console/support-access", {"hours": "7"}, form_page="/console/support-access")
    assert r.status_code == 422
    r = owner.post("/console/support-access", {"hours": "4"}, form_page="/console/support-access")
    assert r.status_code == 302
    (hours, span) = _sql(
        owner_dsn,
        "SELECT hours, expires_at - created_at FROM support_grants WHERE tenant_id = %s",
        (clinic.id,),
    )[0]
    assert hours == 4 and span.total_seconds() == 4 * 3600
    # the clinic sees it on every console page while it lasts
    assert b"data-support-access" in owner.get("/console/").data

    html = ops.text(support)
    assert owner.email in html and clinic.owner_email in html
    assert "email." in html or "No messages." in html
    assert MARKER not in html  # a message's content never shows, nor a patient
    assert b"data-support-active" in ops.get(f"/ops/tenants/{clinic.id}").data
    # another clinic's page stays closed: the grant is per clinic
    assert ops.get(f"/ops/tenants/{other.id}/support").status_code == 403

    r = owner.post("/console/support-access/revoke", {}, form_page="/console/support-access")
    assert r.status_code == 302
    assert b"data-support-access" not in owner.get("/console/").data
    assert ops.get(support).status_code == 403
    assert _actions(owner_dsn, "audit_log", "tenant_id", clinic) == [
        "support.granted",
        "support.viewed",
        "support.revoked",
    ]
    assert _actions(owner_dsn, "platform_audit_log", "clinic_id", clinic) == [
        "support.granted",
        "support.viewed",
        "support.revoked",
    ]
    assert _actions(owner_dsn, "audit_log", "tenant_id", other) == []


def test_access_ends_on_time_by_the_database_clock(app, ops, make_clinic, owner_dsn, ops_dsn):
    """When the grant's end (database clock) has passed, the support page refuses."""
    clinic = make_clinic()
    owner = Console(app, clinic, "owner")
    owner.post("/console/support-access", {"hours": "1"}, form_page="/console/support-access")
    with psycopg.connect(owner_dsn) as conn:  # a message of the clinic's (state only shown)
        conn.execute(
            "INSERT INTO outbox (tenant_id, id, topic, payload) "
            "VALUES (%s, gen_random_uuid(), 'email.test', '{\"body\": \"secret-body\"}')",
            (clinic.id,),
        )
    html = ops.text(f"/ops/tenants/{clinic.id}/support")
    assert "email.test" in html and "secret-body" not in html
    with psycopg.connect(ops_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT payload FROM outbox")

    _expire(owner_dsn, clinic)
    r = ops.get(f"/ops/tenants/{clinic.id}/support")
    assert r.status_code == 403 and b"data-support-refused" in r.data
    assert b"data-support-access" not in owner.get("/console/").data
    assert "Support access is off." in owner.text("/console/support-access")


def test_only_owners_grant(app, make_clinic):
    """Admins and other staff are refused the support access page (403)."""
    clinic = make_clinic()
    admin = Console(app, clinic, "admin")
    assert admin.get("/console/support-access").status_code == 403
    r = admin.post("/console/support-access", {"hours": "1"})
    assert r.status_code == 403


def test_support_operator_sees_with_grant(app, operator, make_clinic):
    """A ``support`` operator may use a granted access (that is who it is for)."""
    clinic = make_clinic()
    owner = Console(app, clinic, "owner")
    owner.post("/console/support-access", {"hours": "24"}, form_page="/console/support-access")
    support = Ops(app, operator("support"))
    assert owner.email in support.text(f"/ops/tenants/{clinic.id}/support")


def test_owner_password_reset_from_ops(app, ops, make_clinic, owner_dsn, client):
    """The operator emails the owner a reset link; it works on the clinic's host; audited."""
    clinic, other = make_clinic(), make_clinic()
    (owner_id,) = _sql(
        owner_dsn,
        "SELECT id FROM users WHERE tenant_id = %s AND email = %s",
        (clinic.id, clinic.owner_email),
    )[0]
    page = f"/ops/tenants/{clinic.id}"
    assert "Email a password reset link" in ops.text(page)
    # another clinic's owner id through this clinic's page: 404, nothing sent
    (other_owner,) = _sql(
        owner_dsn,
        "SELECT id FROM users WHERE tenant_id = %s AND role = 'owner'",
        (other.id,),
    )[0]
    r = ops.post(f"{page}/owner-help/reset/{other_owner}", {}, form_page=page)
    assert r.status_code == 404
    r = ops.post(f"{page}/owner-help/reset/{owner_id}", {}, form_page=page)
    assert r.status_code == 302
    mails = _sql(
        owner_dsn,
        "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = 'email.password_reset'",
        (clinic.id,),
    )
    assert len(mails) == 1
    body = mails[0][0]["body"]
    if body != "[delivered]":
        assert mails[0][0]["to"] == clinic.owner_email
        link = body.split("new password: ", 1)[1].split()[0]
        path = "/" + link.split("/", 3)[3]
        assert client.get(path, base_url=f"http://{clinic.host}").status_code == 200
    assert (
        _sql(
            owner_dsn,
            "SELECT count(*) FROM outbox WHERE tenant_id = %s AND topic = 'email.password_reset'",
            (other.id,),
        )[0][0]
        == 0
    )
    assert _actions(owner_dsn, "audit_log", "tenant_id", clinic) == ["support.owner_reset_started"]
    assert _actions(owner_dsn, "platform_audit_log", "clinic_id", clinic) == [
        "support.owner_reset_started"
    ]


def test_resend_owner_invitation_from_ops(app, ops, make_clinic, owner_dsn):
    """An invited owner who lost the email gets a fresh link; the old one stops working."""
    clinic = make_clinic()
    owner = Console(app, clinic, "owner")
    r = owner.post(
        "/console/staff",
        {"email": "co-owner@example.org", "name": "Co Owner", "role": "owner"},
        form_page="/console/staff",
    )
    assert r.status_code in (200, 302)
    ((inv_id, old_hash),) = _sql(
        owner_dsn,
        "SELECT id, token_hash FROM invitations WHERE tenant_id = %s AND role = 'owner'",
        (clinic.id,),
    )
    page = f"/ops/tenants/{clinic.id}"
    assert "Resend the invitation" in ops.text(page)
    r = ops.post(f"{page}/owner-help/invitation/{inv_id}", {}, form_page=page)
    assert r.status_code == 302
    ((new_hash,),) = _sql(owner_dsn, "SELECT token_hash FROM invitations WHERE id = %s", (inv_id,))
    assert new_hash != old_hash
    mails = _sql(
        owner_dsn,
        "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = 'email.invitation'",
        (clinic.id,),
    )
    assert len(mails) == 2  # the owner's own, and the operator's resend
    assert "support.owner_invitation_resent" in _actions(
        owner_dsn, "platform_audit_log", "clinic_id", clinic
    )
    other = make_clinic()
    r = ops.post(f"/ops/tenants/{other.id}/owner-help/invitation/{inv_id}", {}, form_page=page)
    assert r.status_code == 404
