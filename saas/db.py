"""Database engine, the request-scoped session, and tenant binding for row-level security.

The tenant id is bound to *every* transaction with a transaction-local ``set_config`` in an
``after_begin`` hook, so a pooled connection can never carry one clinic's id into another
clinic's request. With no tenant bound, RLS policies see nothing and inserts fail.

Decisions:

- **The request owns the transaction** (as Indico's request handler and Warehouse's
  ``pyramid_tm`` do): views and services never commit. :func:`finish_request` commits once
  when the view answered with a success (< 400) and rolls back otherwise; any exception
  rolls back (the error handlers in :mod:`saas.errors`). A view that must keep what it wrote
  while answering with an error (the audit entry of a refused sign-in) calls
  :func:`keep_on_error`. Workers and the CLI use :func:`tenant_session`, which commits on
  success in the same way.
- **Recent versions for public reads** (:func:`lease`): each process remembers the
  versions every bind returned, per clinic, for :data:`LEASE_SECONDS`. A request that only
  reads what anonymous visitors see (the clinic's front page, the public slot search)
  may key its caches on them without opening a transaction at all, so a reused page costs
  no round trip. What it shows is then at most :data:`LEASE_SECONDS` older than the
  database ("a moment"): a booking made in another process, a suspension or a new logo is
  seen within that second; a write committed in this process makes every version read
  before it unusable at once (even one another thread was still reading). Only versions a
  transaction read before writing are remembered, so a writer's uncommitted counters
  never are. Staff pages and every write never use it.
- **After-commit side effects belong to the session**: :func:`after_commit` registers a
  callable that runs once the session's transaction has committed, and is dropped on
  rollback (so a job or a pub/sub message never announces a change that did not happen).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import NamedTuple

from sqlalchemy import create_engine, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, make_transient_to_detached, scoped_session, sessionmaker


class AppSession(Session):
    """A session that uses the current Flask app's engine unless bound explicitly."""

    def get_bind(self, mapper=None, clause=None, **kwargs):
        """The app's runtime engine."""
        if self.bind is None:
            from flask import current_app

            return current_app.extensions["similia.engine"]
        return super().get_bind(mapper=mapper, clause=clause, **kwargs)


_factory = sessionmaker(class_=AppSession, expire_on_commit=False)
#: The session of the current thread (request or worker job); removed at teardown.
session: scoped_session[Session] = scoped_session(_factory)

TENANT_KEY = "tenant_id"
VERSIONS_KEY = "similia.versions"
WROTE_KEY = "similia.wrote"
_AFTER_COMMIT = "similia.after_commit"
LEASED_KEY = "similia.leased"
#: How long a process may key public reads on the versions it last saw (see the decisions).
LEASE_SECONDS = 1.0
#: clinic id -> (versions a bind in this process returned, monotonic time it started)
_RECENT: dict[str, tuple[Versions, float]] = {}
#: clinic id -> monotonic time this process last committed a write bound to it
_WRITTEN: dict[str, float] = {}
BOUND_KEY = "similia.bound"
log = logging.getLogger(__name__)


#: A pooled connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """Create the runtime engine (psycopg 3).

    Connections are pinged before use only when they sat idle in the pool for more than
    :data:`PING_AFTER_IDLE_SECONDS`: a dead one (a database restart, an idle timeout) is
    replaced before any request sees it, and a busy server does not pay a round trip per
    request for it (SQLAlchemy's ``pool_pre_ping`` pings on every checkout). A connection
    that dies within a second of its last use fails the one request that uses it (its
    transaction rolls back; nothing is lost), and SQLAlchemy then drops every connection of
    the pool older than the failure.
    """
    # hide_parameters: SQL errors and logs never carry values (patient names, search terms)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
    )
    event.listen(engine, "connect", _note_returned)
    event.listen(engine, "checkin", _note_returned)

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        """Ping a connection that was idle too long; a dead one is replaced."""
        returned = record.info.get("similia.returned")
        if returned is not None and time.monotonic() - returned <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # the pool discards this connection and checks out a fresh one
            raise DisconnectionError("pooled connection is dead") from exc

    return engine


def _note_returned(dbapi_connection, record) -> None:
    if record is not None:
        record.info["similia.returned"] = time.monotonic()


#: Binds the clinic and, in the same round trip, reads what the caches of this transaction
#: check against: the clinic's schedule counters and its row version (``xmin``).
_BIND = text("SELECT config, bookings, tenant_row FROM bind_clinic(:tid)")
_UNBIND = text("SELECT set_config('app.tenant_id', '', true)")


class Versions(NamedTuple):
    """A clinic's schedule counters and tenant row version, as this transaction began."""

    config: int
    bookings: int
    tenant_row: str | None


def _bind(sess: Session, connection, tenant_id: str | None) -> None:
    if tenant_id is None:
        connection.execute(_UNBIND)
        sess.info.pop(VERSIONS_KEY, None)
        return
    began = time.monotonic()
    config, bookings, xmin = connection.execute(_BIND, {"tid": tenant_id}).one()
    seen = sess.info[VERSIONS_KEY] = Versions(config or 0, bookings or 0, xmin)
    sess.info.setdefault(BOUND_KEY, set()).add(tenant_id)
    if not sess.info.get(WROTE_KEY):  # a writer's own counters may never be committed
        _RECENT[tenant_id] = (seen, began)


@event.listens_for(Session, "after_begin")
def _bind_tenant_on_begin(sess: Session, transaction, connection) -> None:
    sess.info.pop(LEASED_KEY, None)
    sess.info.pop(WROTE_KEY, None)
    sess.info.pop(VERSIONS_KEY, None)
    sess.info.pop(BOUND_KEY, None)
    tenant_id = sess.info.get(TENANT_KEY)
    if tenant_id is not None:
        _bind(sess, connection, tenant_id)


def bind_tenant(sess: Session, tenant_id: uuid.UUID | str | None) -> None:
    """Scope ``sess`` to one clinic: this and every later transaction sees only its rows."""
    if isinstance(sess, scoped_session):
        sess = sess()
    sess.info.pop(LEASED_KEY, None)
    sess.info[TENANT_KEY] = str(tenant_id) if tenant_id is not None else None
    if sess.in_transaction():
        _bind(sess, sess.connection(), sess.info[TENANT_KEY])


def versions(sess: Session, *, unless_wrote: frozenset[str] | None = None) -> Versions | None:
    """The bound clinic's counters as this transaction began, while it has not written.

    None when no clinic is bound, or once the transaction wrote (to any table, or with
    ``unless_wrote`` to one of those tables): its own uncommitted changes must never be
    cached, nor missed. Writes are seen through the session (flushes and ORM or Core DML
    statements); raw SQL text that writes is not, so write cached tables through those.
    Starts the transaction if none is open (one statement, which binds the clinic too).
    """
    if isinstance(sess, scoped_session):
        sess = sess()
    if sess.info.get(TENANT_KEY) is None:
        return None
    if LEASED_KEY in sess.info:  # dropped as soon as a connection begins (after_begin)
        return sess.info[LEASED_KEY]
    sess.connection()  # begins (and binds) if needed
    written = sess.info.get(WROTE_KEY)
    if written and (unless_wrote is None or "*" in written or written & unless_wrote):
        return None
    return sess.info.get(VERSIONS_KEY)


def lease(sess: Session) -> Versions | None:
    """Recent versions of the bound clinic, for a public read that opens no transaction.

    The versions this process's last bind of the clinic returned, when that was at most
    :data:`LEASE_SECONDS` ago and no transaction of ``sess`` has bound it yet; else None. Once
    leased, :func:`versions` answers with them until the session begins a transaction (a
    cache miss that must read), which binds and reads the real ones.
    """
    if isinstance(sess, scoped_session):
        sess = sess()
    tenant_id = sess.info.get(TENANT_KEY)
    if tenant_id is None or VERSIONS_KEY in sess.info:  # a transaction already bound it
        return None
    recent = _RECENT.get(tenant_id)
    if recent is None or time.monotonic() - recent[1] > LEASE_SECONDS:
        return None
    if recent[1] <= _WRITTEN.get(tenant_id, -1.0):  # read before a write this process made
        return None
    sess.info[LEASED_KEY] = recent[0]
    return recent[0]


def forget_recent(tenant_id: uuid.UUID | str | None = None) -> None:
    """Drop the remembered versions of one clinic (or of all): the next read binds."""
    if tenant_id is None:
        _RECENT.clear()
    else:
        _RECENT.pop(str(tenant_id), None)


def wrote(sess: Session) -> bool:
    """True once this transaction has written (flushed or executed DML)."""
    if isinstance(sess, scoped_session):
        sess = sess()
    return bool(sess.info.get(WROTE_KEY))


@event.listens_for(Session, "after_flush")
def _mark_flush(sess: Session, flush_context) -> None:
    written = sess.info.setdefault(WROTE_KEY, set())
    for obj in (*sess.new, *sess.dirty, *sess.deleted):
        table = getattr(type(obj), "__table__", None)
        written.add(table.name if table is not None else "*")


@event.listens_for(Session, "do_orm_execute")
def _mark_dml(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        state.session.info.setdefault(WROTE_KEY, set()).add(getattr(table, "name", "*"))


@contextlib.contextmanager
def tenant_session(tenant_id: uuid.UUID | str | None) -> Iterator[Session]:
    """A standalone session bound to one clinic; commits on success (for workers and CLI)."""
    sess = _factory()
    bind_tenant(sess, tenant_id)
    try:
        yield sess
        sess.commit()
    except BaseException:
        sess.rollback()
        raise
    finally:
        sess.close()


def after_commit(sess: Session, key: str, fn: Callable[[], object]) -> None:
    """Run ``fn`` after ``sess`` commits its current transaction (once per ``key``).

    Dropped if the transaction rolls back. A failing callable is logged, never raised: the
    change it follows is already committed (the outbox sweep covers a lost enqueue).
    """
    if isinstance(sess, scoped_session):
        sess = sess()
    sess.info.setdefault(_AFTER_COMMIT, {}).setdefault(key, fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(sess: Session) -> None:
    if sess.info.get(WROTE_KEY):  # this process sees its own change at once
        now = time.monotonic()
        for tenant_id in sess.info.get(BOUND_KEY) or ():
            _WRITTEN[tenant_id] = now
            _RECENT.pop(tenant_id, None)
    for key, fn in (sess.info.pop(_AFTER_COMMIT, None) or {}).items():
        try:
            fn()
        except Exception:  # noqa: BLE001 - see after_commit
            log.warning("after-commit action failed", extra={"action": key}, exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(sess: Session) -> None:
    sess.info.pop(_AFTER_COMMIT, None)


def keep_on_error() -> None:
    """Commit this request's writes even though it answers with an error status."""
    from flask import g

    g.similia_keep_writes = True


def finish_request(status: int) -> None:
    """End the request's transaction: commit on success (or when kept), else roll back."""
    from flask import g

    if not session().in_transaction():
        return  # the request never touched the database
    if status < 400 or g.get("similia_keep_writes"):
        session.commit()
    else:
        session.rollback()


def refuse_request() -> None:
    """A refusal (domain or HTTP error) ends the request: roll back unless kept."""
    from flask import g

    if g.get("similia_keep_writes"):
        try:
            session.commit()
        except Exception:  # noqa: BLE001 - the refusal still answers; the log says why
            log.exception("could not keep the writes of a refused request")
            session.rollback()
    else:
        session.rollback()


def row_values(obj) -> dict:
    """A new ORM instance's column values for a Core INSERT, Python-side defaults applied.

    The defaults are set on ``obj`` too, so after :func:`adopt` it is complete.
    """
    values = {}
    for prop in sa_inspect(type(obj)).column_attrs:
        column = prop.columns[0]
        value = getattr(obj, prop.key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg(None) if default.is_callable else default.arg
        setattr(obj, prop.key, value)  # set, even when None: nothing is left to load
        values[column.name] = value
    return values


def adopt(sess: Session, *objs) -> None:
    """Attach instances that a Core INSERT wrote to ``sess`` as persistent, unchanged rows."""
    for obj in objs:
        make_transient_to_detached(obj)
        sess.add(obj)
