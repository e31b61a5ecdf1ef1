"""Server-side sessions in Redis, so a session id can be rotated at sign-in and revoked.

The cookie holds only a random id; the data lives in Redis under ``session:<id>`` with a
sliding expiry. ``regenerate()`` gives the current session a fresh id (used at sign-in and
at every privilege change), deleting the old one.
"""

from __future__ import annotations

import json
import secrets

from flask import Flask, has_request_context, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

PREFIX = "session:"


class RedisSession(CallbackDict, SessionMixin):
    """Session data with its id; marks itself modified on change."""

    def __init__(self, initial=None, sid: str | None = None, *, new: bool = False):
        def on_update(self):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid or secrets.token_urlsafe(32)
        self.new = new
        self.modified = False
        self.old_sid: str | None = None

    def regenerate(self) -> None:
        """Give this session a new id (the old one stops working)."""
        self.old_sid = self.old_sid or self.sid
        self.sid = secrets.token_urlsafe(32)
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Store Flask sessions in Redis."""

    def __init__(self, redis, lifetime_seconds: int = 8 * 3600):
        self.redis = redis
        self.lifetime = lifetime_seconds

    prefix = PREFIX

    def key_prefix(self) -> str:
        """Redis key prefix of this request's sessions."""
        return self.prefix

    def session_lifetime(self) -> int:
        """Idle lifetime (seconds) of this request's sessions."""
        return self.lifetime

    def open_session(self, app: Flask, request):
        """Load the session named by the cookie, or start a new one."""
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) < 100:
            raw = self.redis.get(self.key_prefix() + sid)
            if raw is not None:
                return RedisSession(json.loads(raw), sid)
        return RedisSession(new=True)

    def save_session(self, app: Flask, session: RedisSession, response) -> None:
        """Persist changes and (re)set the cookie."""
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        prefix, lifetime = self.key_prefix(), self.session_lifetime()
        if session.old_sid:
            self.redis.delete(prefix + session.old_sid)
            session.old_sid = None
        if not session:
            if not session.new:
                self.redis.delete(prefix + session.sid)
                response.delete_cookie(name, domain=domain, path=path)
            return
        self.redis.setex(prefix + session.sid, lifetime, json.dumps(dict(session)))
        if session.new or session.modified or self.should_set_cookie(app, session):
            response.vary.add("Cookie")
            response.set_cookie(
                name,
                session.sid,
                max_age=lifetime,
                httponly=self.get_cookie_httponly(app),
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app),
                domain=domain,
                path=path,
            )


#: The operator console's path on the platform host.
OPS_PATH = "/ops"


class SurfaceSessionInterface(RedisSessionInterface):
    """Staff/patient sessions, and the operator console's apart from them.

    Under ``/ops`` a session has its own cookie (``similia_ops``, path ``/ops``), its own
    Redis keys (``opsession:``) and a short idle lifetime: a clinic session's id is never
    looked up as an operator's, nor the reverse, whatever cookie carries it.
    """

    OPS_COOKIE = "similia_ops"
    OPS_PREFIX = "opsession:"

    def __init__(self, redis, lifetime_seconds: int = 8 * 3600, ops_idle_seconds: int = 900):
        super().__init__(redis, lifetime_seconds)
        self.ops_idle = ops_idle_seconds

    @staticmethod
    def _ops() -> bool:
        if not has_request_context():
            return False
        return request.path == OPS_PATH or request.path.startswith(OPS_PATH + "/")

    def key_prefix(self) -> str:
        """``opsession:`` under /ops."""
        return self.OPS_PREFIX if self._ops() else self.prefix

    def session_lifetime(self) -> int:
        """The operator console's short idle timeout under /ops."""
        return self.ops_idle if self._ops() else self.lifetime

    def get_cookie_name(self, app: Flask) -> str:
        """``similia_ops`` under /ops."""
        return self.OPS_COOKIE if self._ops() else super().get_cookie_name(app)

    def get_cookie_path(self, app: Flask) -> str:
        """The operator cookie is only ever sent to /ops."""
        return OPS_PATH if self._ops() else super().get_cookie_path(app)
