"""The request owns the transaction: one commit on success, rollback on any refusal.

A probe view on a fresh app writes an audit entry, registers an after-commit action and
then answers in each of the ways a real view can; the database and the action log say
what was kept.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from flask import g, request
from sqlalchemy import text

from tests.conftest import make_config, new_client


@pytest.fixture(scope="module")
def probe_app(service_env):
    """A separate app with one probe route (routes cannot be added to the shared app)."""
    from saas import audit, db
    from saas.app import create_app
    from saas.exceptions import Conflict

    app = create_app(make_config())
    ran: list[str] = []

    def probe(mode: str, marker: str):
        audit.record(db.session, g.tenant.id, "probe.written", data={"marker": marker})
        db.after_commit(db.session, "probe", lambda: ran.append(marker))
        if mode == "refuse":
            raise Conflict("Refused after writing.")
        if mode == "keep":
            db.keep_on_error()
            raise Conflict("Refused, but the audit entry is kept.")
        if mode == "status":
            return {"message": "an error status without an exception"}, 409
        if mode == "crash":
            raise RuntimeError("boom")
        if mode == "sql":  # a database error whose parameter is a value sent in the body
            db.session.execute(text("SELECT CAST(:m AS integer)"), {"m": request.json["value"]})
        return {"ok": True}

    from saas.extensions import csrf

    app.add_url_rule(
        "/api/v1/_probe/<mode>/<marker>", "probe", csrf.exempt(probe), methods=["POST"]
    )
    app.ran = ran
    return app


@pytest.mark.parametrize(
    ("mode", "status", "kept"),
    [("ok", 200, True), ("refuse", 409, False), ("status", 409, False), ("keep", 409, True)],
)
def test_outcome_decides_commit(probe_app, make_clinic, owner_dsn, mode, status, kept):
    """Success commits and runs after-commit actions; refusals roll back unless kept."""
    clinic = make_clinic()
    marker = uuid.uuid4().hex
    resp = new_client(probe_app).post(
        f"/api/v1/_probe/{mode}/{marker}", base_url=f"http://{clinic.host}"
    )
    assert resp.status_code == status
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT actor_kind FROM audit_log WHERE tenant_id = %s AND data->>'marker' = %s",
            (clinic.id, marker),
        ).fetchall()
    assert len(rows) == (1 if kept else 0)
    if kept:
        assert rows[0][0] == "system"
    assert (marker in probe_app.ran) == kept


def test_unexpected_error_rolls_back(probe_app, make_clinic, owner_dsn):
    """An unhandled error is a 500 JSON body and leaves nothing behind."""
    clinic = make_clinic()
    marker = uuid.uuid4().hex
    resp = new_client(probe_app).post(
        f"/api/v1/_probe/crash/{marker}", base_url=f"http://{clinic.host}"
    )
    assert resp.status_code == 500 and "boom" not in resp.get_data(as_text=True)
    with psycopg.connect(owner_dsn) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM audit_log WHERE data->>'marker' = %s", (marker,)
        ).fetchone()
    assert count == 0 and marker not in probe_app.ran


def test_audit_lines_name_the_kind_of_actor(app, make_clinic, token_for, owner_dsn):
    """Staff actions are audited as staff; the chain still verifies with the kind in it."""
    from saas import audit, db

    clinic = make_clinic()
    token_for(clinic)  # a staff sign-in through the API
    with psycopg.connect(owner_dsn) as conn:
        kinds = dict(
            conn.execute(
                "SELECT action, actor_kind FROM audit_log WHERE tenant_id = %s", (clinic.id,)
            ).fetchall()
        )
    assert kinds["tenant.created"] == "staff" and kinds["auth.token_issued"] == "staff"
    with app.app_context(), db.tenant_session(clinic.id) as sess:
        assert audit.verify_chain(sess, clinic.id) is None


def test_sql_parameters_never_reach_the_logs(probe_app, make_clinic):
    """A value the database refuses is a 422, logged without the value (names, search terms)."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("saas.errors")
    logger.addHandler(handler)
    try:
        clinic = make_clinic()
        marker = f"Patient-{uuid.uuid4().hex}"
        resp = new_client(probe_app).post(
            "/api/v1/_probe/sql/x", json={"value": marker}, base_url=f"http://{clinic.host}"
        )
    finally:
        logger.removeHandler(handler)
    assert resp.status_code == 422 and marker not in resp.get_data(as_text=True)
    assert resp.get_json()["reason"] == "invalid_value"
    (record,) = [r for r in records if r.getMessage() == "value refused by the database"]
    logged = repr(record.__dict__) + (
        logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
    )
    assert record.sqlstate == "22P02" and "CAST" in record.statement  # the error is logged
    assert marker not in logged


def test_405_names_the_allowed_methods(make_clinic, token_for, client):
    """A wrong method gets ``Allow`` (API and pages)."""
    clinic = make_clinic()
    api = client.delete(
        "/api/v1/settings",
        headers={"Authorization": f"Bearer {token_for(clinic)}"},
        base_url=f"http://{clinic.host}",
    )
    assert api.status_code == 405 and "GET" in api.headers["Allow"]
    page = client.put("/login", base_url=f"http://{clinic.host}")
    assert page.status_code == 405 and "POST" in page.headers["Allow"]


def test_page_cursor_out_of_range_is_422(make_clinic, token_for, client):
    """``before`` beyond 64 bits names the parameter instead of failing in the database."""
    clinic = make_clinic()
    token = token_for(clinic)
    for before in ("99999999999999999999", "1" * 5000, "-1", "x"):
        resp = client.get(
            f"/api/v1/audit?before={before}",
            headers={"Authorization": f"Bearer {token}"},
            base_url=f"http://{clinic.host}",
        )
        assert resp.status_code == 422 and "before" in resp.get_json()["errors"]["query"]


def test_integer_path_beyond_its_column_is_404(make_clinic, token_for, client):
    """A note version past 32 bits matches no route (it used to reach the database)."""
    import uuid as _uuid

    clinic = make_clinic()
    resp = client.get(
        f"/api/v1/visits/{_uuid.uuid4()}/notes/99999999999999999999",
        headers={"Authorization": f"Bearer {token_for(clinic)}"},
        base_url=f"http://{clinic.host}",
    )
    assert resp.status_code == 404


def test_refused_sign_ins_are_audited_as_anonymous(make_clinic, client, owner_dsn):
    """A failed attempt is not the system acting: its kind is ``anonymous``."""
    clinic = make_clinic()
    client.post(
        "/api/v1/auth/token",
        json={"email": "guess@example.org", "password": "wrong guess 1", "otp": "000000"},
        base_url=f"http://{clinic.host}",
    )
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT actor_kind, actor_label FROM audit_log WHERE tenant_id = %s"
            " AND action = 'auth.failure'",
            (clinic.id,),
        ).fetchall()
    assert rows == [("anonymous", "guess@example.org")]
