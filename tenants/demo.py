"""The demo clinic that ``make run`` seeds: owner, practitioner and receptionist.

All demo accounts share one published TOTP secret so a newcomer can sign in; print a
current code with ``saas demo code``. Never seed this on a production deployment.
"""

from __future__ import annotations

import uuid

import pyotp
from flask import current_app

from saas import audit, db
from saas.fields import seal_field
from saas.models import User, utcnow
from saas.security.passwords import hash_password

from .services import commit_signup, get_tenant_by_slug, signup_clinic

SLUG = "demo"
PASSWORD = "similia-demo-2026"
TOTP_SECRET = "SIMILIADEMOTOTPSECRETKEYFORDEMOS"
ACCOUNTS = [
    ("owner@demo.similia.test", "Dr. Hannah Weber", "owner"),
    ("practitioner@demo.similia.test", "Dr. Arjun Mehta", "practitioner"),
    ("reception@demo.similia.test", "Sofia Lang", "receptionist"),
]


def current_code() -> str:
    """The demo accounts' current TOTP code."""
    return pyotp.TOTP(TOTP_SECRET).now()


def seed_demo() -> bool:
    """Create the demo clinic if missing; returns True when it was created now."""
    sess = db.session
    if get_tenant_by_slug(sess, SLUG) is not None:
        return False
    keys = current_app.extensions["similia.keys"]
    owner_email, owner_name, _ = ACCOUNTS[0]
    result = signup_clinic(
        sess,
        keys,
        {
            "name": "Demo Homeopathy Clinic",
            "slug": SLUG,
            "timezone": "Europe/Berlin",
            "country": "DE",
            "owner_name": owner_name,
            "owner_email": owner_email,
            "password": PASSWORD,
        },
    )
    tenant = result.tenant
    users = [result.owner]
    for email, name, role in ACCOUNTS[1:]:
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(PASSWORD),
        )
        sess.add(user)
        users.append(user)
    sess.flush()
    for user in users:
        user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, TOTP_SECRET)
        user.mfa_enrolled_at = utcnow()
    audit.record(sess, tenant.id, "tenant.demo_seeded", actor_label="system")
    commit_signup(sess, keys, tenant.id)
    return True
