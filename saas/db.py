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
- **After-commit side effects belong to the session**: :func:`after_commit` registers a
  callable that runs once the session's transaction has committed, and is dropped on
  rollback (so a job or a pub/sub message never announces a change that did not happen).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker


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
_AFTER_COMMIT = "similia.after_commit"
log = logging.getLogger(__name__)


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """Create the runtime engine (psycopg 3)."""
    # hide_parameters: SQL errors and logs never carry values (patient names, search terms)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        hide_parameters=True,
    )


@event.listens_for(Session, "after_begin")
def _bind_tenant_on_begin(sess: Session, transaction, connection) -> None:
    tenant_id = sess.info.get(TENANT_KEY)
    if tenant_id is not None:
        connection.execute(
            text("SELECT set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id)}
        )


def bind_tenant(sess: Session, tenant_id: uuid.UUID | str | None) -> None:
    """Scope ``sess`` to one clinic: this and every later transaction sees only its rows."""
    if isinstance(sess, scoped_session):
        sess = sess()
    sess.info[TENANT_KEY] = str(tenant_id) if tenant_id is not None else None
    if sess.in_transaction():
        sess.connection().execute(
            text("SELECT set_config('app.tenant_id', :tid, true)"),
            {"tid": str(tenant_id) if tenant_id is not None else ""},
        )


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
