"""JSON answers of the records blueprints, registered once instead of per view.

- A refused records operation (:class:`RecordsError`) rolls back and answers with its
  status and per-field errors.
- A sealed value that does not open under its row (tampering/corruption) is a 500 with a
  clear message and a log line, never the ciphertext or a stack trace.
(Vault being down is a 503, handled app-wide.)
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import g, jsonify

from saas import db
from saas.crypto import DecryptionError

from .policy import RecordsError

log = logging.getLogger(__name__)


def integrity_error(exc: DecryptionError):
    """Roll back, log, answer 500 JSON."""
    db.session.rollback()
    log.error("sealed value failed its integrity check", extra={"request_id": g.get("request_id")})
    message = (
        "A sealed value failed its integrity check; the record cannot be shown. "
        "The incident was logged."
    )
    return jsonify(code=500, status="Error", message=message), 500


def refused(exc: RecordsError):
    """Roll back; answer with the refusal's status and field errors."""
    db.session.rollback()
    body = {
        "code": exc.status,
        "status": HTTPStatus(exc.status).phrase,
        "message": str(exc),
        "errors": {"json": exc.errors},
    }
    return jsonify(body), exc.status


def register(blp) -> None:
    """Install the handlers on a records blueprint."""
    blp.register_error_handler(DecryptionError, integrity_error)
    blp.register_error_handler(RecordsError, refused)
