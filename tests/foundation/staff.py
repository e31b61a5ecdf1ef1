"""Create staff members of a test clinic directly (bypassing invitation emails)."""

from __future__ import annotations

import uuid

import pyotp

PASSWORD = "correct horse 42"


def add_staff(app, clinic, role: str, *, enrolled: bool = True) -> tuple[str, str]:
    """Add a staff member with ``role``; returns (email, TOTP secret)."""
    from saas import db
    from saas.fields import seal_field
    from saas.models import Tenant, User, utcnow
    from saas.security.passwords import hash_password

    email = f"{role}-{uuid.uuid4().hex[:6]}@{clinic.slug}.example.org"
    secret = pyotp.random_base32()
    with app.app_context():
        with db.tenant_session(clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            user = User(
                id=uuid.uuid4(),
                tenant_id=clinic.id,
                email=email,
                name=role.title(),
                role=role,
                password_hash=hash_password(PASSWORD),
            )
            sess.add(user)
            sess.flush()
            user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, secret)
            user.mfa_enrolled_at = utcnow() if enrolled else None
    return email, secret
