"""Tenant lifecycle: clinic signup (one unit across Postgres and Vault), suspension."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas import audit
from saas.crypto import KeyService, KeyServiceUnavailable
from saas.db import bind_tenant
from saas.exceptions import Conflict, Invalid
from saas.inputs import line_problem
from saas.models import Tenant, TenantDataKey, User, utcnow
from saas.security.auth import new_totp_secret, provisioning_uri
from saas.security.passwords import hash_password, password_problem

from . import rules
from . import status as clinic_status

log = logging.getLogger(__name__)


@dataclass
class SignupResult:
    """What signup made; ``totp_secret`` and ``otpauth_uri`` are shown to the owner once."""

    tenant: Tenant
    owner: User
    totp_secret: str
    otpauth_uri: str


def get_tenant_by_slug(sess: Session, slug: str) -> Tenant | None:
    """The clinic with this address label."""
    return sess.scalar(select(Tenant).where(Tenant.slug == slug))


def validate_signup(data: dict) -> dict[str, str]:
    """Field errors for a signup request (empty when valid)."""
    errors = {}
    if problem := rules.slug_problem(data.get("slug", "")):
        errors["slug"] = problem
    if problem := rules.timezone_problem(data.get("timezone", "")):
        errors["timezone"] = problem
    if problem := rules.country_problem(data.get("country", "")):
        errors["country"] = problem
    currency = data.get("currency")
    if currency and currency not in rules.CURRENCIES:
        errors["currency"] = "Choose one of: " + ", ".join(sorted(rules.CURRENCIES)) + "."
    if not (data.get("name") or "").strip():
        errors["name"] = "Enter the clinic's name."
    elif problem := line_problem(data["name"]):
        errors["name"] = problem
    if not (data.get("owner_name") or "").strip():
        errors["owner_name"] = "Enter your name."
    elif problem := line_problem(data["owner_name"]):
        errors["owner_name"] = problem
    guessable = (
        data.get("owner_email"),
        data.get("owner_name"),
        data.get("name"),
        data.get("slug"),
    )
    if problem := password_problem(data.get("password") or "", guessable):
        errors["password"] = problem
    return errors


def signup_clinic(sess: Session, keys: KeyService, data: dict) -> SignupResult:
    """Create a clinic, its owner, its Vault key and first data key, and an audit entry.

    Flushes but does not commit; call :func:`commit_signup` so a failed commit also removes
    the Vault key. Raises ``Invalid``/``Conflict`` naming the field, or
    ``KeyServiceUnavailable``.
    """
    data = {**data, "slug": (data.get("slug") or "").strip()}
    if errors := validate_signup(data):
        raise Invalid(errors)
    if get_tenant_by_slug(sess, data["slug"]) is not None:
        raise Conflict({"slug": "This address is already taken."})
    tenant = Tenant(
        id=uuid.uuid4(),
        slug=data["slug"],
        name=data["name"].strip(),
        timezone=data["timezone"],
        country=data["country"],
        currency=data.get("currency") or rules.CURRENCY_BY_COUNTRY[data["country"]],
        # the free trial starts now; its end is the one the billing sweep and Checkout read
        status=clinic_status.TRIALING,
        trial_ends_at=utcnow() + dt.timedelta(days=clinic_status.TRIAL_DAYS),
        settings={},  # every section reads its defaults from the registry
        dek_version=1,
    )
    sess.add(tenant)
    try:
        sess.flush()
    except IntegrityError as exc:
        raise Conflict({"slug": "This address is already taken."}) from exc
    bind_tenant(sess, tenant.id)

    try:
        wrapped = keys.create_tenant_key(tenant.id)
        sess.add(TenantDataKey(id=uuid.uuid4(), tenant_id=tenant.id, version=1, wrapped=wrapped))
        owner = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            email=data["owner_email"].strip().lower(),
            name=data["owner_name"].strip(),
            role="owner",
            password_hash=hash_password(data["password"]),
        )
        sess.add(owner)
        sess.flush()
        secret = new_totp_secret(sess, tenant, owner)
        audit.record(
            sess,
            tenant.id,
            "tenant.created",
            actor=owner,
            target=f"tenant:{tenant.slug}",
            data={"timezone": tenant.timezone, "country": tenant.country},
        )
    except BaseException:
        _shred_quietly(keys, tenant.id)
        raise
    return SignupResult(tenant, owner, secret, provisioning_uri(secret, owner, tenant))


def commit_signup(sess: Session, keys: KeyService, tenant_id: uuid.UUID) -> None:
    """Commit the signup; if the commit fails, delete the new Vault key too.

    A connection can break *after* the server committed, so the key is deleted only once a
    fresh connection confirms that the clinic's row does not exist.
    """
    try:
        sess.commit()
    except BaseException:
        sess.rollback()
        if not _tenant_exists(sess, tenant_id):
            _shred_quietly(keys, tenant_id)
        raise


def _tenant_exists(sess: Session, tenant_id: uuid.UUID) -> bool:
    try:
        with sess.get_bind().connect() as conn:
            return conn.scalar(select(Tenant.id).where(Tenant.id == tenant_id)) is not None
    except Exception:  # noqa: BLE001 - cannot tell: keep the key (an orphan key is harmless)
        log.error("cannot confirm failed signup; keeping its key", extra={"tenant": str(tenant_id)})
        return True


def _shred_quietly(keys: KeyService, tenant_id: uuid.UUID) -> None:
    try:
        keys.delete_tenant_key(tenant_id)
    except KeyServiceUnavailable:
        log.error("could not delete transit key of failed signup", extra={"tenant": str(tenant_id)})
