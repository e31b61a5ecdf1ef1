"""What the configuration verbs share: flushing with the database's refusals made friendly."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas.exceptions import Conflict, DomainError


def constraint_name(exc: IntegrityError) -> str | None:
    """The name of the constraint a flush violated, if Postgres said."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None)


def flush_or_refuse(sess: Session, refusals: dict[str, DomainError]) -> None:
    """Flush in a savepoint; a violated constraint named in ``refusals`` raises its refusal.

    The application checks first for a friendly message; the constraint decides a race.
    """
    try:
        with sess.begin_nested():
            sess.flush()
    except IntegrityError as exc:
        refusal = refusals.get(constraint_name(exc))
        if refusal is None:
            raise
        raise refusal from exc


def duplicate(field: str, message: str) -> Conflict:
    """A 409 for a value that must be unique in the clinic (a name, a linked account)."""
    return Conflict(message, errors={field: message}, reason="duplicate")
