"""Opaque API bearer tokens: stored hashed, expiring, revocable, bound to one clinic."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app, g, request
from sqlalchemy import select, update

from .. import db
from ..exceptions import Unauthenticated
from ..models import ApiToken, User, utcnow
from .secrets import digest, new_token


def issue_token(sess, user: User, ttl_seconds: int) -> tuple[str, ApiToken]:
    """Create a token for ``user``; the plain token is returned once, only its hash is kept."""
    plain = "sim_" + new_token()
    row = ApiToken(
        id=uuid.uuid4(),
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_hash=digest(plain),
        expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds),
    )
    sess.add(row)
    sess.flush()
    return plain, row


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_bearer() -> User | None:
    """Set ``g.api_user``/``g.api_token`` from the Authorization header of this clinic's host.

    The lookup runs under the request's tenant binding, so a token minted for clinic A is
    simply not found on clinic B's host.
    """
    if "api_user" in g:
        return g.api_user
    g.api_user = None
    plain = _bearer()
    tenant = g.get("tenant")
    if plain is None or tenant is None or plain.startswith("simp_"):
        return None  # patient portal tokens are handled by saas.patients
    row = db.session.execute(
        select(ApiToken, User)
        .join(User, (User.tenant_id == ApiToken.tenant_id) & (User.id == ApiToken.user_id))
        .where(ApiToken.tenant_id == tenant.id, ApiToken.token_hash == digest(plain))
    ).first()
    if row is None:
        raise Unauthenticated("The bearer token is invalid.")
    token, user = row
    if token.revoked_at is not None or token.expires_at <= utcnow():
        raise Unauthenticated("The bearer token has expired or was revoked.")
    if not user.is_active:
        raise Unauthenticated("This account is disabled.")
    g.api_user, g.api_token = user, token
    return user


def revoke_token(sess, token: ApiToken) -> None:
    """Revoke one token now."""
    sess.execute(
        update(ApiToken)
        .where(ApiToken.tenant_id == token.tenant_id, ApiToken.id == token.id)
        .values(revoked_at=utcnow())
    )


def token_ttl() -> int:
    """Lifetime of new tokens, in seconds."""
    return current_app.config["SIMILIA"].token_ttl
