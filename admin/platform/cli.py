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

    try:  # the session's own transaction commits on success and rolls back on a refusal
        with _factory(bind=current_app.extensions["similia.ops_engine"]) as sess, sess.begin():
            op, secret = create_operator(sess, email, name, role, password)
            email, role = op.email, op.role
            uri = provisioning_uri(secret, op)
    except Invalid as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Operator {email} ({role}) created.")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"Authenticator URI: {uri}")
