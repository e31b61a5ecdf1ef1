"""Practitioners: public profiles, optionally linked to one staff account of the clinic."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant, User

from ..models import Practitioner
from .common import duplicate, flush_or_refuse

PRACTITIONER_FIELDS = (
    "display_name",
    "title",
    "bio",
    "photo_url",
    "is_active",
    "user_id",
    "alerts_enabled",
    "daily_agenda",
)
URL_RE = re.compile(r"^https://[^\s/$.?#][^\s]*$|^http://[^\s/$.?#][^\s]*$", re.I)


def _check(sess: Session, tenant: Tenant, p: Practitioner) -> None:
    errors = {}
    if not (p.display_name or "").strip():
        errors["display_name"] = "Enter the practitioner's name."
    if p.photo_url and not URL_RE.match(p.photo_url):
        errors["photo_url"] = "Use an http(s) address of an image."
    if p.user_id is not None:
        user = sess.scalar(select(User).where(User.tenant_id == tenant.id, User.id == p.user_id))
        if user is None:
            errors["user_id"] = "Unknown staff account."
    if errors:
        raise Invalid(errors, reason="invalid")


def _plan_allows(sess: Session, tenant: Tenant) -> None:
    """Refuse one more active practitioner beyond the plan (409 ``plan_limit``)."""
    from billing.limits import ensure_room  # billing builds on scheduling, not the reverse

    ensure_room(sess, tenant, "max_practitioners")


def _flush(sess: Session) -> None:
    flush_or_refuse(
        sess,
        {
            "uq_practitioners_tenant_user": duplicate(
                "user_id", "This staff account already has a practitioner profile."
            )
        },
    )


def create_practitioner(sess: Session, tenant: Tenant, actor, data: dict) -> Practitioner:
    """Add a practitioner profile (optionally linked to a staff account)."""
    p = Practitioner(id=uuid.uuid4(), tenant_id=tenant.id, is_active=True)
    for f in PRACTITIONER_FIELDS:
        if f in data:
            setattr(p, f, data[f])
    p.display_name = (p.display_name or "").strip()
    _check(sess, tenant, p)
    if p.is_active:
        _plan_allows(sess, tenant)
    sess.add(p)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.practitioner_created",
        actor=actor,
        target=f"practitioner:{p.id}",
        data={"display_name": p.display_name},
    )
    return p


def update_practitioner(
    sess: Session, tenant: Tenant, actor, p: Practitioner, data: dict
) -> Practitioner:
    """Change a practitioner's profile (``is_active=False`` archives it)."""
    if data.get("is_active") is True and not p.is_active:
        _plan_allows(sess, tenant)  # re-activating counts as adding
    for f in PRACTITIONER_FIELDS:
        if f in data:
            setattr(p, f, data[f].strip() if isinstance(data[f], str) else data[f])
    with sess.no_autoflush:
        _check(sess, tenant, p)
    _flush(sess)
    audit.record(
        sess,
        tenant.id,
        "practice.practitioner_updated",
        actor=actor,
        target=f"practitioner:{p.id}",
        data={
            k: str(data[k])
            for k in ("display_name", "is_active", "user_id", "alerts_enabled", "daily_agenda")
            if k in data
        },
    )
    return p
