"""Argon2id password hashing."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 10


def configure(time_cost: int) -> None:
    """Set the Argon2id time cost (tests use a cheaper setting)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=65536 if time_cost > 1 else 8192)


def hash_password(password: str) -> str:
    """Argon2id hash with a random salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a bad password."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: A valid hash to verify against when the account does not exist (same timing).
DUMMY_HASH = PasswordHasher(time_cost=1, memory_cost=8192).hash("not-a-real-password")


def password_problem(password: str) -> str | None:
    """A human message when ``password`` is too weak, else None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    if password.isdigit() or password.lower() == password and password.isalpha():
        return "Mix letters with digits or symbols."
    return None
