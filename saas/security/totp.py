"""TOTP pieces shared by staff MFA (:mod:`.auth`) and patients' two-step sign-in.

Only the arithmetic and the display live here; where the secret is stored, how the last
accepted time step is claimed and who is audited belong to each caller.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp
import segno

#: How many recovery codes a person gets at once (each works once).
RECOVERY_CODES = 10


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, name: str, issuer: str) -> str:
    """``otpauth://`` URI for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no style attributes: the CSP forbids them)."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#1b1b1b", light="#ffffff")


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def clean(code: str | None) -> str:
    """A typed code without spaces around or inside it."""
    return (code or "").strip().replace(" ", "")


def looks_like_totp(code: str | None) -> bool:
    """Six digits (after :func:`clean`)."""
    code = clean(code)
    return code.isdigit() and len(code) == 6


def matching_step(secret: str, code: str, *, at: dt.datetime) -> int | None:
    """The time step (now, one before or one after) whose code is ``code``, else None.

    The caller accepts the code only if that step is later than the last one it accepted
    (one conditional UPDATE), so a code never works twice.
    """
    code = clean(code)
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret)
    step_now = int(at.timestamp()) // totp.interval
    for step in (step_now, step_now - 1, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_code() -> str:
    """One recovery code: ``xxxxxxxx-xxxxxxxx`` (hex, 64 bits)."""
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def looks_like_recovery_code(code: str | None) -> bool:
    """The shape :func:`new_recovery_code` makes (checked before any lookup)."""
    code = (code or "").strip().lower()
    return len(code) == 17 and code[8] == "-" and all(c in "0123456789abcdef-" for c in code)
