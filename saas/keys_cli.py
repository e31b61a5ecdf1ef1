"""``saas keys``: rotate a clinic's data key, rewrap data keys after transit rotation, status.

Runs with the app's key service: the key-admin token rotates and rewraps, the runtime role
(RLS) writes the rows, each clinic in its own tenant-bound transactions.
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from saas.models.tenant import OPERATING_STATUSES as OPERATING

from . import jobs
from .db import tenant_session
from .models import Tenant


@click.group(cls=AppGroup)
def keys() -> None:
    """Tenant encryption keys (rotation, rewrap, status)."""


def _tenants(slug: str | None) -> list[Tenant]:
    with tenant_session(None) as sess:
        q = select(Tenant).where(Tenant.status.in_(OPERATING))
        if slug:
            q = select(Tenant).where(Tenant.slug == slug)
        found = list(sess.scalars(q.order_by(Tenant.slug)))
    if slug and not found:
        raise click.ClickException(f"No clinic {slug!r}.")
    if slug and found[0].status not in OPERATING:
        raise click.ClickException(f"Clinic {slug!r} is {found[0].status}.")
    return found


@keys.command("rotate")
@click.option("--tenant", "slug", required=True, help="the clinic's slug")
@click.option(
    "--wait/--no-wait",
    default=False,
    show_default=True,
    help="re-encrypt here, printing progress, instead of handing it to a worker",
)
@click.option("--batch-size", default=200, show_default=True)
def rotate(slug: str, wait: bool, batch_size: int) -> None:
    """New data-key version for one clinic, then re-encrypt its rows in batches."""
    from .records.keys import remaining, rotate_data_key

    keysvc = current_app.extensions["similia.keys"]
    (tenant,) = _tenants(slug)
    with tenant_session(tenant.id) as sess:
        tenant = sess.get(Tenant, tenant.id)
        job = rotate_data_key(sess, keysvc, tenant)
        left = sum(remaining(sess, tenant).values())
        if not wait:  # the worker starts once the new key version is committed
            jobs.enqueue(sess, tenant.id, "reencrypt_tenant", batch_size=batch_size)
        click.echo(
            f"{slug}: data key v{job.from_version} -> v{job.to_version}; "
            f"{left} values to re-encrypt"
        )
    if wait:
        from .records.keys import reencrypt_all

        done = reencrypt_all(
            tenant.id,
            batch_size=batch_size,
            progress=lambda n: click.echo(f"  re-encrypted {n}/{left}"),
        )
        click.echo(f"{slug}: re-encryption done ({done} values)")
    else:
        click.echo("Re-encryption queued; follow it with `saas keys status`.")


@keys.command("rewrap")
@click.option("--tenant", "slug", default=None, help="one clinic (default: every active clinic)")
@click.option(
    "--rotate/--no-rotate",
    "rotate_transit",
    default=True,
    show_default=True,
    help="rotate the transit key first (--no-rotate when it was rotated already)",
)
def rewrap(slug: str | None, rotate_transit: bool) -> None:
    """Rewrap data keys under the latest transit key version, then refuse older versions."""
    from .records.keys import finish_rewrap, rewrap_data_keys

    keysvc = current_app.extensions["similia.keys"]
    for tenant in _tenants(slug):
        with tenant_session(tenant.id) as sess:
            t = sess.get(Tenant, tenant.id)
            latest = rewrap_data_keys(sess, keysvc, t, rotate=rotate_transit)
        finish_rewrap(keysvc, tenant, latest)
        click.echo(
            f"{tenant.slug}: data keys wrapped by transit v{latest}; "
            f"min_decryption_version={latest}"
        )


@keys.command("status")
@click.option("--tenant", "slug", default=None, help="one clinic (default: every active clinic)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(slug: str | None, as_json: bool) -> None:
    """Key versions, rows still on old data keys, recent rotation jobs."""
    from .records.keys import key_status

    keysvc = current_app.extensions["similia.keys"]
    out = []
    for tenant in _tenants(slug):
        with tenant_session(tenant.id) as sess:
            out.append(key_status(sess, keysvc, sess.get(Tenant, tenant.id)))
    if as_json:
        click.echo(json.dumps(out, default=str, indent=2))
        return
    for s in out:
        left = sum(s["rows_on_old_data_keys"].values())
        click.echo(
            f"{s['tenant']}: transit v{s['transit_latest_version']} "
            f"(min decrypt v{s['transit_min_decryption_version']}), "
            f"data key v{s['data_key_version']}, "
            f"{left} values on older data keys"
        )
        for dk in s["data_keys"]:
            click.echo(f"  data key v{dk['version']} wrapped by transit {dk['wrapped_by']}")
        for job in s["jobs"]:
            click.echo(
                f"  {job['kind']} v{job['from']}->v{job['to']}: {job['status']}, "
                f"{job['rows_done']} rows"
            )
