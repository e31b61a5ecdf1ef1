"""Error responses: JSON with a message (and field errors) for the API, pages otherwise.

No stack trace ever reaches a client; unexpected errors are logged with the request id.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from . import db
from .crypto import KeyServiceUnavailable

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Please check the form",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


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

    @app.errorhandler(KeyServiceUnavailable)
    def key_service_down(exc):
        db.session.rollback()
        log.error("key service unavailable", extra={"request_id": g.get("request_id")})
        return _respond(503, "Encrypted records are temporarily unavailable. Try again shortly.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
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
            return resp, status
        if exc.response is not None:
            return exc.response
        return _respond(exc.code or 500, exc.description or "")

    @app.errorhandler(Exception)
    def unexpected(exc):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        db.session.rollback()
        return _respond(500, InternalServerError.description)
