"""Argon2id password hashing."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy: str | None = None
MIN_LENGTH = 10


def configure(time_cost: int) -> None:
    """Set the Argon2id time cost (tests use a cheaper setting)."""
    global _hasher, _dummy
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=65536 if time_cost > 1 else 8192)
    _dummy = None


def dummy_hash() -> str:
    """A hash with the current parameters, to verify when an account does not exist.

    An unknown email then costs as much time as a known one (no timing oracle).
    """
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("not-a-real-password")
    return _dummy


def hash_password(password: str) -> str:
    """Argon2id hash with a random salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a bad password."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """A human message when ``password`` is too weak, else None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    if password.isdigit() or password.lower() == password and password.isalpha():
        return "Mix letters with digits or symbols."
    return None
