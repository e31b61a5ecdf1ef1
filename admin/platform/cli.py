"""``saas operators``: create platform operators (there is no signup page for them)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from saas.db import _factory
from saas.exceptions import Invalid


@click.group("operators", cls=AppGroup)
def operators_cli() -> None:
    """Platform operators (the /ops console)."""


@operators_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", type=click.Choice(["support", "admin"]), default="support", show_default=True
)
@click.password_option(prompt="Password", confirmation_prompt=True)
def create(email: str, name: str, role: str, password: str) -> None:
    """Create an operator; prints the TOTP secret to add to an authenticator app (once)."""
    from .auth import create_operator, provisioning_uri

    sess = _factory(bind=current_app.extensions["similia.ops_engine"])
    try:
        op, secret = create_operator(sess, email, name, role, password)
        sess.commit()
    except Invalid as exc:
        sess.rollback()
        raise click.ClickException(exc.message) from exc
    finally:
        sess.close()
    click.echo(f"Operator {op.email} ({op.role}) created.")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"Authenticator URI: {provisioning_uri(secret, op)}")
