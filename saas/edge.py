"""What answers before the app: liveness and static files.

Neither needs a clinic, a session, a rate limit or a transaction, and both are asked for far
more often than any page, so they are answered by this WSGI layer in front of Flask
(measured in ``bench/http.py``: the request machinery cost 2.5x a bare Flask answer for
``/healthz`` and 4.5x for a stylesheet).

Decisions:

- **Static files** are served by WhiteNoise from the app's ``static`` folder and the
  portal's (``/static/…``, ``/portal/static/…``), on every host, with ``ETag`` and
  ``Last-Modified`` for conditional requests and ``Cache-Control: public, max-age=300``.
  File names are not content-hashed, so a changed stylesheet reaches browsers within five
  minutes. Files are indexed when the app is built; in debug mode (``make run``) they are
  looked up on every request, so an edit shows at once. They carry the app's headers that
  matter for a file (``nosniff``, ``Referrer-Policy``, HSTS over https), not its request
  id, access log line or request figures: files are neither clinic data nor work.
- **Liveness** (``GET /healthz``) says that the worker accepts and answers requests, and
  nothing more, so it needs nothing of the app. It keeps the app's request id rules (a
  valid ``X-Request-Id`` is echoed, anything else is replaced). Readiness (``/readyz``,
  which checks Postgres, Redis and Vault) goes through the app.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from whitenoise import WhiteNoise

#: A caller's request id is kept only when it looks like one (no markup, no header tricks).
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STATIC_MAX_AGE = 300
_LIVE = b'{"status":"ok"}\n'


class Edge:
    """The WSGI app in front of Flask (see the module's decisions)."""

    def __init__(self, app, folders: dict[str, Path], *, debug: bool = False, https: bool = False):
        self.app = app
        self.https = https
        self.static = WhiteNoise(
            app,
            max_age=STATIC_MAX_AGE,
            autorefresh=debug,
            allow_all_origins=False,
            add_headers_function=self._static_headers,
        )
        for prefix, folder in folders.items():
            self.static.add_files(str(folder), prefix=prefix)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            return self._live(environ, start_response)
        return self.static(environ, start_response)

    def _static_headers(self, headers, path, url) -> None:
        """The app's own security headers that mean something for a file."""
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if self.https:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    @staticmethod
    def _live(environ, start_response):
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(_LIVE))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Request-Id", request_id),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [_LIVE]
