"""Closing a clinic: a grace period, then final deletion (rows removed, key shredded).

Decisions:

- Deletion is requested by the clinic's owner in the console (password and a TOTP code
  again), or by an operator admin when the contract ended (with a reason). The clinic goes
  to ``closing`` with ``delete_after = now() + 30 days`` (:data:`GRACE`, database clock).
- During the grace period the portal is offline (patients see that the clinic is closing),
  the console stays open read-only for the clinic's staff so the owner can export
  (patients' data exports, the audit log CSV) and cancel; nothing is deleted. The owner
  may cancel at any time before the end: the clinic returns to ``trialing`` (trial time
  left) or ``active``.
- After the grace period ``saas tenants purge-due`` (the daily ``purge`` task in
  production, or an operator, on the migration connection ``DATABASE_URL``) deletes each due
  clinic for good: the existing crypto-shredding (:func:`tenants.lifecycle.delete_clinic`:
  status ``deleted``, Vault transit key destroyed) and then the clinic's rows in **every**
  table with a ``tenant_id`` column, children first (the order comes from the catalog's
  foreign keys, so a new table is covered without a code change). The ``tenants`` row stays as the
  tombstone (status ``deleted``, settings and domain cleared) so the slug is not reused;
  the platform audit log keeps the fact (who asked, when, how many rows), never the data.
- The Vault key is destroyed before the transaction commits: if Vault refuses, nothing is
  deleted and the run can be repeated; a repeated run tolerates a key already gone.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from saas import audit, outbox
from saas.actors import Actor, as_actor
from saas.crypto import KeyService
from saas.db import bind_tenant
from saas.exceptions import Conflict, Invalid
from saas.models import Tenant, User, utcnow
from saas.security.auth import verify_totp
from saas.security.passwords import verify_password

from . import status as clinic_status
from .lifecycle import delete_clinic

log = logging.getLogger(__name__)

#: How long a closing clinic keeps its data before final deletion.
GRACE = dt.timedelta(days=30)
MAX_REASON = 500


def _platform_record(sess: Session, action: str, actor: Actor, tenant: Tenant, data: dict):
    from admin.platform import audit as platform_audit  # the platform log's public writer

    platform_audit.record(
        sess, action, actor=actor, tenant_id=tenant.id, target=f"tenant:{tenant.slug}", data=data
    )


def _email_owners(sess: Session, tenant: Tenant, subject: str, body: str) -> None:
    bind_tenant(sess, tenant.id)
    owners = sess.execute(
        select(User.email, User.name).where(
            User.tenant_id == tenant.id, User.role == "owner", User.is_active.is_(True)
        )
    ).all()
    for email, name in owners:
        outbox.emit(
            sess,
            tenant.id,
            "email.platform_notice",
            {"to": email, "subject": subject, "body": f"Hello {name},\n\n{body}\n"},
        )


def confirm_owner(sess: Session, user: User, password: str, code: str) -> None:
    """Re-check the owner's password and a fresh TOTP code; Invalid when either fails."""
    errors = {}
    if not verify_password(user.password_hash, password or ""):
        errors["password"] = "That password is not right."
    if not verify_totp(sess, user, (code or "").strip()):
        errors["code"] = "That code did not work. Use the current code of your app."
    if errors:
        raise Invalid(errors)


def request_deletion(sess: Session, tenant: Tenant, actor, reason: str) -> dt.datetime:
    """Start the grace period: ``closing`` until ``delete_after``; returns that time."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": "Enter the reason."})
    if len(reason) > MAX_REASON:
        raise Invalid({"reason": f"Keep the reason under {MAX_REASON} characters."})
    if tenant.status == clinic_status.CLOSING:
        raise Conflict("The clinic is already closing.")
    who = as_actor(actor)
    clinic_status.change_status(sess, tenant, clinic_status.CLOSING, actor=who, reason=reason)
    tenant.delete_after = sess.scalar(select(func.now())) + GRACE
    sess.flush()
    data = {"reason": reason, "delete_after": tenant.delete_after.isoformat()}
    audit.record(
        sess,
        tenant.id,
        "tenant.deletion_requested",
        actor=who,
        target=f"tenant:{tenant.slug}",
        data=data,
    )
    _platform_record(sess, "tenant.deletion_requested", who, tenant, data)
    _email_owners(
        sess,
        tenant,
        f"{tenant.name} will be deleted on {tenant.delete_after:%d %B %Y}",
        "Deletion of your clinic on Similia was requested"
        f"{' by Similia' if who.kind == 'operator' else ''}.\n\nReason: {reason}\n\n"
        f"Your portal is offline now. Until {tenant.delete_after:%d %B %Y} (UTC) you can sign "
        "in to the console to export your data, or cancel the deletion. After that date "
        "every record is deleted and cannot be recovered.",
    )
    return tenant.delete_after


def cancel_deletion(sess: Session, tenant: Tenant, actor) -> str:
    """End the grace period: the clinic works again; returns its new status."""
    if tenant.status != clinic_status.CLOSING:
        raise Conflict("The clinic is not closing.")
    who = as_actor(actor)
    in_trial = tenant.trial_ends_at is not None and tenant.trial_ends_at > utcnow()
    new = clinic_status.TRIALING if in_trial else clinic_status.ACTIVE
    clinic_status.change_status(sess, tenant, new, actor=who, reason="deletion cancelled")
    tenant.delete_after = None
    sess.flush()
    audit.record(sess, tenant.id, "tenant.deletion_cancelled", actor=who)
    _platform_record(sess, "tenant.deletion_cancelled", who, tenant, {"to": new})
    return new


# -- final deletion ------------------------------------------------------------------------
_TENANT_TABLES = text(
    """
    SELECT c.relname FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    """
)
_FOREIGN_KEYS = text(
    """
    SELECT src.relname, dst.relname FROM pg_constraint con
    JOIN pg_class src ON src.oid = con.conrelid
    JOIN pg_class dst ON dst.oid = con.confrelid
    JOIN pg_namespace n ON n.oid = src.relnamespace
    WHERE con.contype = 'f' AND n.nspname = 'public'
    """
)


def deletion_order(sess: Session) -> list[str]:
    """Every table with a ``tenant_id`` column, each before the tables it references."""
    tables = set(sess.scalars(_TENANT_TABLES))
    refs: dict[str, set[str]] = {t: set() for t in tables}  # table -> tables it references
    for src, dst in sess.execute(_FOREIGN_KEYS):
        if src in tables and dst in tables and src != dst:
            refs[src].add(dst)
    order: list[str] = []
    referenced_by = {t: {s for s in tables if t in refs[s]} for t in tables}
    ready = sorted(t for t in tables if not referenced_by[t])
    while ready:
        table = ready.pop(0)
        order.append(table)
        for dst in sorted(refs[table]):
            referenced_by[dst].discard(table)
            if not referenced_by[dst] and dst not in order and dst not in ready:
                ready.append(dst)
    if len(order) != len(tables):
        raise RuntimeError(f"foreign key cycle among {sorted(tables - set(order))}")
    return order


def purge_clinic(sess: Session, keys: KeyService, tenant: Tenant, *, actor: str) -> int:
    """Delete ``tenant`` for good: shred its key, remove its rows; returns rows removed.

    ``sess`` runs on the owner's connection (the runtime role may not delete audit logs).
    """
    tenant_id = tenant.id
    requested = tenant.delete_after
    delete_clinic(sess, keys, tenant, actor=actor)
    removed = 0
    for table in deletion_order(sess):
        result = sess.execute(
            text(f'DELETE FROM "{table}" WHERE tenant_id = :tid'), {"tid": tenant_id}
        )
        removed += result.rowcount or 0
    sess.execute(text("DELETE FROM clinic_usage WHERE clinic_id = :tid"), {"tid": tenant_id})
    tenant.settings = {}
    tenant.custom_domain = None
    tenant.delete_after = None
    sess.flush()
    _platform_record(
        sess,
        "tenant.purged",
        Actor.system(actor),
        tenant,
        {
            "rows_removed": removed,
            "crypto_shredded": True,
            "grace_ended": requested.isoformat() if requested else None,
        },
    )
    return removed


def due_clinics(sess: Session) -> list[uuid.UUID]:
    """Closing clinics whose grace period has ended (database clock)."""
    return list(
        sess.scalars(
            select(Tenant.id).where(
                Tenant.status == clinic_status.CLOSING,
                Tenant.delete_after <= func.now(),
            )
        )
    )
