"""Pooled connections are pinged only after sitting idle, and a dead one is never handed out."""

from __future__ import annotations

from saas import db


def _engine(app):
    return db.make_engine(app.config["SIMILIA"].database_url, pool_size=1, max_overflow=0)


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def test_a_connection_that_died_while_idle_is_replaced_before_use(app, sql, monkeypatch):
    """The server ends an idle pooled connection: the next checkout gets a live one."""
    engine = _engine(app)
    try:
        first = _backend(engine)
        assert sql("SELECT pg_terminate_backend(%s)", first) == [(True,)]
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle long enough
        second = _backend(engine)
        assert second != first
        assert sql("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", second) == [(1,)]
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_and_an_idle_one_is(app, monkeypatch):
    """Back-to-back checkouts make no ping; one after the idle limit makes exactly one."""
    engine = _engine(app)
    pings: list[int] = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real(conn))
    try:
        first = _backend(engine)  # a new connection: no ping
        assert _backend(engine) == first and _backend(engine) == first
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend(engine) == first
        assert pings == [1]
    finally:
        engine.dispose()
