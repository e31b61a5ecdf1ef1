"""JSON answer for a sealed value that does not open under its row (tampering/corruption).

Registered on the records blueprints: a 500 with a clear message and a log line, never the
ciphertext or a stack trace. (Vault being down is a 503, handled app-wide.)
"""

from __future__ import annotations

import logging

from flask import g, jsonify

from saas import db
from saas.crypto import DecryptionError

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


def register(blp) -> None:
    """Install the handler on a records blueprint."""
    blp.register_error_handler(DecryptionError, integrity_error)
