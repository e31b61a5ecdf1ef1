"""The one exception scheduling verbs raise; views turn it into a JSON error response."""

from __future__ import annotations


class SchedulingError(Exception):
    """A refused scheduling request.

    ``reason`` is machine-readable (``too_soon``, ``slot_taken``, ...); ``errors`` maps
    request fields to messages; ``status`` is the HTTP status the API answers with
    (422 rule violation or invalid field, 404 unknown id, 409 conflict with current state).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 422,
        reason: str | None = None,
        errors: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.errors = errors or {}


def field_errors(errors: dict[str, str], message: str = "Please correct the marked fields."):
    """A 422 :class:`SchedulingError` for invalid fields."""
    return SchedulingError(message, status=422, reason="invalid", errors=errors)


def not_found(what: str, field: str | None = None) -> SchedulingError:
    """The same 404 for "missing" and "another clinic's": no existence oracle."""
    return SchedulingError(
        f"No such {what}.",
        status=404,
        reason="not_found",
        errors={field: f"Unknown {what}."} if field else None,
    )


def abort_with(exc: SchedulingError, *, location: str = "json"):
    """Roll back the request's transaction and answer with ``exc`` as a JSON error."""
    from flask_smorest import abort

    from saas import db

    db.session.rollback()
    extra = {}
    if exc.errors:
        extra["errors"] = {location: {k: [v] for k, v in exc.errors.items()}}
    if exc.reason:
        extra["reason"] = exc.reason
    abort(exc.status, message=exc.message, **extra)
