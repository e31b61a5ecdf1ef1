"""The ``saas`` command line (a Flask CLI group)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup


def _create_app():
    """Commands run in the shared runtime (engine, Redis, keys), not the web app.

    So a broken page or blueprint never stops ``saas db check`` or ``saas keys``.
    """
    from .dev import load_dev_env
    from .runtime import build_runtime

    # in a second terminal beside ``make run``: its services, unless DATABASE_URL is set
    load_dev_env()
    return build_runtime(name="similia-cli")


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """Similia: multi-tenant platform for homeopathic clinics."""


@main.command(with_appcontext=False)
@click.option("--port", default=8000, show_default=True)
@click.option("--var", "var_dir", default=".var", show_default=True, type=click.Path())
def dev(port: int, var_dir: str) -> None:
    """Start everything locally with embedded services and the demo clinic."""
    from .dev import run

    raise SystemExit(run(Path(var_dir).resolve(), port))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade", with_appcontext=False)
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Apply migrations as the owner role (DATABASE_URL)."""
    from .migrate import upgrade

    upgrade(os.environ["DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@db.command("check", with_appcontext=False)
def db_check() -> None:
    """Compare the models with the migrated database (DATABASE_URL); exit 1 on a difference.

    Compared, for the models of every feature (saas.models, saas.scheduling.models,
    saas.records.models): missing or extra tables and columns, column types, nullability,
    foreign keys (columns, target, ON DELETE), and the indexes and unique constraints the
    models declare. Ignored: indexes and unique constraints only the database has (partial,
    expression and lookup indexes belong to the migrations), check and exclusion
    constraints, RLS policies, grants, triggers, server defaults and alembic_version.
    Differences listed in saas.schema.PENDING are reported as known and do not fail; a
    PENDING entry that no longer differs fails the check. See saas/schema.py.
    """
    from .schema import check

    result = check(os.environ["DATABASE_URL"])
    for line in result.known:
        click.echo(f"known (saas.schema.PENDING): {line}")
    for line in result.stale:
        click.echo(f"stale PENDING entry, no longer differs (remove it): {line}")
    for line in result.differences:
        click.echo(f"differs: {line}")
    if not result.ok:
        click.echo(
            f"Models and database disagree: {len(result.differences)} difference(s), "
            f"{len(result.stale)} stale PENDING entr(ies)."
        )
        raise SystemExit(1)
    known = f", apart from {len(result.known)} known in PENDING" if result.known else ""
    click.echo(f"Models match the database{known}.")


@main.command(with_appcontext=False)
@click.option("--processes", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
def worker(processes: int, threads: int) -> None:
    """Run the dramatiq workers (every actor in workers.tasks); SIGTERM stops them cleanly."""
    import sys

    args = [sys.executable, "-m", "dramatiq", "workers.tasks"]
    args += ["--processes", str(processes), "--threads", str(threads)]
    os.execv(sys.executable, args)


@main.command(with_appcontext=False)
def scheduler() -> None:
    """Run the periodic scheduler (outbox sweep, holds, reminders, records); one is enough."""
    import sys

    # its own process, as ``saas worker``: the core never imports ``workers``
    os.execv(sys.executable, [sys.executable, "-m", "workers.scheduler"])


@main.group()
def demo() -> None:
    """The demo clinic."""


@demo.command("seed")
def demo_seed() -> None:
    """Create the demo clinic if it is missing."""
    from tenants.demo import seed_demo

    click.echo("Seeded." if seed_demo() else "Demo clinic already exists.")


@demo.command("code", with_appcontext=False)
def demo_code() -> None:
    """Print the demo accounts' current two-step code."""
    from tenants.demo import current_code

    click.echo(current_code())


@main.group()
def reminders() -> None:
    """Appointment reminders."""


@reminders.command("send-due")
@click.option(
    "--at",
    "at",
    required=True,
    help="the moment to act as if it were (ISO 8601, e.g. 2026-12-10T09:30; the clinic's zone "
    "when no offset is given)",
)
@click.option("--clinic", "slug", default=None, help="one clinic's slug (default: every clinic)")
def reminders_send_due(at: str, slug: str | None) -> None:
    """Development: send now the reminders that would be due at ``--at`` (a moved clock).

    Plans the reminders as of ``--at`` and makes the ones whose send time has come by then
    due now; the relay sends them (skipping what the visit's state rules out, as always).
    Refused in production, where time moves by itself.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy import select, update

    from saas.clinic_states import OPERATING
    from saas.db import tenant_session
    from saas.models import OutboxMessage, Tenant
    from saas.scheduling.reminders import TOPIC, plan_reminders

    from . import outbox

    if current_app.config["SIMILIA"].production:
        raise click.ClickException("Not in production: reminders follow the real clock there.")
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError as exc:
        raise click.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from exc
    with tenant_session(None) as sess:
        q = select(Tenant.id, Tenant.timezone).where(Tenant.status.in_(OPERATING))
        if slug:
            q = q.where(Tenant.slug == slug)
        clinics = sess.execute(q).all()
    if slug and not clinics:
        raise click.ClickException(f"No operating clinic {slug!r}.")
    for tenant_id, zone in clinics:
        when = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
        with tenant_session(tenant_id) as sess:
            tenant = sess.get(Tenant, tenant_id)
            name = tenant.slug
            planned = plan_reminders(sess, tenant, when)
            due = sess.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.tenant_id == tenant_id,
                    OutboxMessage.topic == TOPIC,
                    OutboxMessage.state == "queued",
                    OutboxMessage.next_attempt_at <= when,
                )
                .values(next_attempt_at=dt.datetime.now(dt.UTC))
                .execution_options(synchronize_session=False)
            ).rowcount
            if due:
                outbox.mark_due(sess, tenant_id)
        if due:
            outbox.kick(str(tenant_id))
        click.echo(f"{name}: {planned} reminder(s) planned, {due} due now")


from admin.platform.cli import operators_cli  # noqa: E402
from tenants.lifecycle import tenants_cli  # noqa: E402

from .keys_cli import keys  # noqa: E402

main.add_command(keys)
main.add_command(tenants_cli)
main.add_command(operators_cli)
