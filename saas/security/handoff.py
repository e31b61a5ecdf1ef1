"""One-time links that carry a just-signed-up owner from the platform host to the clinic's.

Cookies are per host, so signup on the platform cannot sign the owner in on
``<slug>.<base>``. The link is signed (itsdangerous), valid two minutes, and single use
(its nonce is claimed in Redis with SET NX).
"""

from __future__ import annotations

import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_AGE = 120


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="similia.handoff")


def make_handoff(tenant_id, user_id) -> str:
    """A token for the clinic host's ``/auth/handoff``."""
    return _serializer().dumps(
        {"tid": str(tenant_id), "uid": str(user_id), "n": secrets.token_hex(16)}
    )


def claim_handoff(token: str, tenant_id) -> str | None:
    """The user id carried by ``token`` if valid for this clinic and not used before."""
    try:
        data = _serializer().loads(token or "", max_age=MAX_AGE)
    except BadSignature:
        return None
    if data.get("tid") != str(tenant_id):
        return None
    redis = current_app.extensions["similia.redis"]
    if not redis.set(f"handoff:{data['n']}", 1, nx=True, ex=MAX_AGE * 2):
        return None
    return data["uid"]
