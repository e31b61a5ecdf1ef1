"""Argon2id password hashing and the password strength rule.

Decisions: a password is refused when it is shorter than :data:`MIN_LENGTH`, or when zxcvbn
(Dropbox's estimator, which knows the most common passwords, names, keyboard patterns and
l33t substitutions) scores it below :data:`MIN_SCORE` — the same rule for clinic staff and
patients. Words the person gave us (their email, name, the clinic) count as guessable.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()
_dummy: str | None = None
MIN_LENGTH = 10
#: zxcvbn score 0-4; 3 = "safely unguessable: moderate protection from an offline attack".
MIN_SCORE = 3
_SEP = re.compile(r"[\s._-]+")


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


def password_problem(password: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """A human message when ``password`` is too weak, else None.

    ``user_inputs`` are words the person gave us (email, name, clinic): a password built
    from them is easy to guess.
    """
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    words = [
        w.lower()
        for value in user_inputs
        if value
        for w in re.split(r"[\s@.\-_]+", str(value))
        if w
    ]
    # scored as typed and without separators, so "arnica montana" is read as two known words
    result = min(
        (zxcvbn(candidate, user_inputs=words) for candidate in {password, _SEP.sub("", password)}),
        key=lambda r: r["score"],
    )
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        advice = " ".join(
            x for x in [feedback.get("warning") or "", *feedback.get("suggestions", [])[:1]] if x
        )
        return (
            "This password is too easy to guess. "
            + (advice or "Try a few uncommon words with a number or symbol.")
        ).strip()
    return None
