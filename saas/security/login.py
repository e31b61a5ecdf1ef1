"""flask-login glue: load the session's user within the resolved clinic only."""

from __future__ import annotations

import uuid

from flask import g, session

from .. import db
from ..models import User


def load_user(identity: str) -> User | None:
    """Return the user for ``"<uuid>:<epoch>"`` if still valid in this clinic."""
    tenant = g.get("tenant")
    if tenant is None or session.get("tid") != str(tenant.id):
        return None
    user_id, _, epoch = identity.partition(":")
    try:
        key = (tenant.id, uuid.UUID(user_id))
    except ValueError:
        return None
    user = db.session.get(User, key)
    if user is None or not user.is_active or str(user.session_epoch) != epoch:
        return None
    if user.mfa_enrolled_at is None:
        return None
    return user
