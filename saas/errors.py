"""Error responses: JSON with a message (and field errors) for the API, pages otherwise.

Every :class:`saas.exceptions.DomainError` is mapped here, once: the status by its kind
(:data:`STATUS`), the body with ``message``, ``reason`` and field ``errors`` under the
request part they came from (``json`` for bodies, ``query`` for GET parameters), as
flask-smorest/webargs report schema errors. Page views that show a form catch the error and
call :func:`form_errors`; uncaught, a page gets the friendly error page with the message.

An error rolls back the request's transaction (see :mod:`saas.db`); a domain error raised
after the view called :func:`saas.db.keep_on_error` (a refused sign-in's audit entry)
commits instead. No stack trace ever reaches a client; unexpected errors are logged with
the request id.
"""

from __future__ import annotations

import logging
import traceback

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from . import db
from .crypto import DecryptionError, KeyServiceUnavailable
from .exceptions import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    Locked,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Too large",
    415: "Unsupported type",
    422: "Please check the form",
    423: "Locked",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


#: Domain error kind -> HTTP status; the most specific class wins.
STATUS: dict[type[DomainError], int] = {
    UnsupportedType: 415,
    TooLarge: 413,
    Invalid: 422,
    NotFound: 404,
    Forbidden: 403,
    Unauthenticated: 401,
    Gone: 410,
    Conflict: 409,
    Locked: 423,
    Unavailable: 503,
}


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (its nearest mapped class)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def form_errors(form, exc: DomainError) -> str:
    """Put ``exc``'s field errors on ``form``'s fields; returns the message for the summary.

    Rolls back the request's transaction: whatever the service wrote before refusing is
    discarded, as it would be for an uncaught error.
    """
    db.session.rollback()
    for name, message in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
    return exc.message


def refused(exc: DomainError) -> str:
    """Roll back what the refused service wrote; the message to flash on the next page.

    For page actions that answer a refusal with a redirect (a success status, which would
    otherwise commit).
    """
    db.session.rollback()
    return " ".join(exc.errors.values()) or exc.message


def database_error_context(exc: DBAPIError) -> dict:
    """What to log of a database error: never its values.

    The statement's parameters are hidden by the engine (``hide_parameters``), but the
    server's own message can quote a value (``invalid input syntax ...: "Maria"``, a unique
    violation's ``Key (email)=(...)``); so the log gets the SQLSTATE, the constraint, the
    statement text (placeholders only) and the stack frames, not the message.
    """
    diag = getattr(exc.orig, "diag", None)
    return {
        "request_id": g.get("request_id"),
        "error": type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
        "sqlstate": getattr(exc.orig, "sqlstate", None),
        "constraint": getattr(diag, "constraint_name", None),
        "statement": (exc.statement or "")[:2000],
        "stack": "".join(traceback.format_tb(exc.__traceback__))[-4000:],
    }


def _with_exception_headers(resp, exc: HTTPException):
    """Keep what the exception says about itself (``Allow`` on a 405, ``Retry-After``).

    A refused rate limit says when to retry: at most the limit's window from now.
    """
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            resp.headers[key] = value
    if isinstance(exc, RateLimitExceeded) and "Retry-After" not in resp.headers:
        resp.headers["Retry-After"] = str(exc.limit.limit.get_expiry())
    return resp


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _respond(status: int, message: str, **extra):
    if _is_api():
        body = {"code": status, "status": TITLES.get(status, "Error"), "message": message, **extra}
        return jsonify(body), status
    return render_template(
        "error.html", status=status, title=TITLES.get(status, "Error"), message=message
    ), status


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _respond(400, "This form expired or was sent from elsewhere. Reload and retry.")

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.refuse_request()  # rolls back, unless the view called db.keep_on_error()
        status = status_of(exc)
        extra = {}
        if exc.errors:
            where = "query" if request.method in ("GET", "HEAD") else "json"
            extra["errors"] = {where: {k: [v] for k, v in exc.errors.items()}}
        if exc.reason:
            extra["reason"] = exc.reason
        return _respond(status, exc.message, **extra)

    @app.errorhandler(DataError)
    def bad_value(exc: DataError):
        # the safety net behind the schemas' limits: a value the database cannot store
        # (too long for its column, out of range) is the client's, not a server error
        log.warning("value refused by the database", extra=database_error_context(exc))
        return domain_error(
            Invalid("A value is too long or out of range for this field.", reason="invalid_value")
        )

    @app.errorhandler(OverflowError)
    def out_of_range(exc: OverflowError):
        # the safety net behind saas.inputs' date bounds: arithmetic past year 9999
        return domain_error(Invalid("A date or number is out of range.", reason="out_of_range"))

    @app.errorhandler(DecryptionError)
    def integrity_error(exc: DecryptionError):
        db.session.rollback()
        log.error(
            "sealed value failed its integrity check", extra={"request_id": g.get("request_id")}
        )
        return _respond(
            500,
            "A sealed value failed its integrity check; the record cannot be shown. "
            "The incident was logged.",
        )

    @app.errorhandler(KeyServiceUnavailable)
    def key_service_down(exc):
        db.session.rollback()
        log.error("key service unavailable", extra={"request_id": g.get("request_id")})
        return _respond(503, "Encrypted records are temporarily unavailable. Try again shortly.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.refuse_request()
        if _is_api():
            data = getattr(exc, "data", None) or {}
            extra = {k: v for k, v in data.items() if k in ("errors", "reason")}
            if "messages" in data:  # webargs/marshmallow validation errors
                extra["errors"] = data["messages"]
            message = (
                data.get("message")
                or ("Some fields are invalid." if "messages" in data else None)
                or exc.description
                or TITLES.get(exc.code, "Error")
            )
            resp, status = _respond(exc.code, message, **extra)
            for k, v in (data.get("headers") or {}).items():
                resp.headers[k] = v
            return _with_exception_headers(resp, exc), status
        if exc.response is not None:
            return exc.response
        body, status = _respond(exc.code or 500, exc.description or "")
        return _with_exception_headers(current_app.make_response(body), exc), status

    @app.errorhandler(Exception)
    def unexpected(exc):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        db.session.rollback()
        if isinstance(exc, DBAPIError):
            log.error("unhandled error", extra=database_error_context(exc))
        else:
            log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return _respond(500, InternalServerError.description)
