"""Database engine, the request-scoped session, and tenant binding for row-level security.

The tenant id is bound to *every* transaction with a transaction-local ``set_config`` in an
``after_begin`` hook, so a pooled connection can never carry one clinic's id into another
clinic's request. With no tenant bound, RLS policies see nothing and inserts fail.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

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


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """Create the runtime engine (psycopg 3)."""
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


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
