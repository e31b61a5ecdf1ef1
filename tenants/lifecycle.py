"""Clinic deletion: crypto-shredding.

``delete_clinic`` marks the clinic deleted (its host answers "unavailable" from then on),
records it in the clinic's audit log, and hard-deletes its Vault transit key: the wrapped
data keys in Postgres can never be unwrapped again, so every sealed value the clinic left
behind (contact details, case notes, attachments, TOTP secrets) is unreadable — without
touching a row. OpenBao's *soft* delete is recoverable, so it is not used: the key is
deleted with ``DELETE transit/keys/<name>`` after ``deletion_allowed=true``. Other clinics'
keys are untouched. Deleting an already-shredded clinic again is a no-op for Vault
(idempotent), so a failed run can simply be repeated.
"""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor
from saas.crypto import KeyService, TenantKeyMissing
from saas.db import bind_tenant, tenant_session
from saas.models import Tenant

log = logging.getLogger(__name__)


def delete_clinic(
    sess: Session, keys: KeyService, tenant: Tenant, actor: str | None = None
) -> None:
    """Mark ``tenant`` deleted and destroy its transit key (the caller commits)."""
    bind_tenant(sess, tenant.id)
    was = tenant.status
    tenant.status = "deleted"
    tenant.custom_domain = None
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "tenant.deleted",
        actor=Actor.for_operator(None, actor or "operator"),
        target=f"tenant:{tenant.slug}",
        data={"previous_status": was, "crypto_shredded": True},
    )
    try:
        keys.delete_tenant_key(tenant.id)
    except TenantKeyMissing:
        log.warning("transit key already gone", extra={"tenant": str(tenant.id)})
    keys.forget(tenant.id)


@click.group("tenants", cls=AppGroup)
def tenants_cli() -> None:
    """Clinic lifecycle (operators)."""


@tenants_cli.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def delete_command(slug: str, yes: bool) -> None:
    """Delete a clinic and crypto-shred its data (irreversible)."""
    with tenant_session(None) as sess:
        tenant = sess.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise click.ClickException(f"No clinic {slug!r}.")
        tenant_id = tenant.id
    if not yes:
        click.confirm(
            f"Delete clinic {slug!r} and destroy its encryption key? Its data becomes unreadable "
            "forever.",
            abort=True,
        )
    with tenant_session(tenant_id) as sess:
        tenant = sess.get(Tenant, tenant_id)
        delete_clinic(sess, current_app.extensions["similia.keys"], tenant, actor="operator (cli)")
    click.echo(f"Clinic {slug} deleted; transit key tenant-{tenant_id} destroyed.")


@tenants_cli.command("purge-due")
def purge_due_command() -> None:
    """Delete for good every closing clinic whose grace period has ended (see tenants.closing).

    Runs on the migration connection (``DATABASE_URL``, the role that owns the tables, as
    ``saas db upgrade`` does): removing a clinic's audit log is a right the runtime role
    does not have. Each clinic is bound (RLS) and every DELETE names it as well.
    """
    from saas.db import _factory, make_engine

    from .closing import due_clinics, purge_clinic

    engine = make_engine(current_app.config["SIMILIA"].database_url, pool_size=1)
    keys = current_app.extensions["similia.keys"]
    try:
        with _factory(bind=engine) as sess, sess.begin():
            due = due_clinics(sess)
        for tenant_id in due:
            with _factory(bind=engine) as sess, sess.begin():
                bind_tenant(sess, tenant_id)
                tenant = sess.get(Tenant, tenant_id, with_for_update=True)
                if tenant is None or tenant.status != "closing":
                    continue
                removed = purge_clinic(sess, keys, tenant, actor="tenants purge-due")
                slug = tenant.slug
            click.echo(f"Clinic {slug} deleted: {removed} rows removed, transit key destroyed.")
    finally:
        engine.dispose()
    click.echo(f"{len(due)} clinic(s) due.")
