"""Opaque random tokens and their stored digests."""

from __future__ import annotations

import hashlib
import secrets


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token to hand out once."""
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 hex of a token: what we store and look up."""
    return hashlib.sha256(token.encode()).hexdigest()
