"""The benchmark environment: real servers under ``.var/bench`` and a fresh database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def start(name: str = "similia_bench"):
    """Start (or reuse) services, create a fresh database ``name``, migrate; return services."""
    from saas.devservices import DevServices
    from saas.migrate import upgrade

    services = DevServices(ROOT / ".var" / "bench", log=lambda *_: None)
    env = services.start()
    url = make_url(env["DATABASE_URL"])
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **env,
        "DATABASE_URL": url.set(database=name).render_as_string(hide_password=False),
        "SECRET_KEY": secrets.token_urlsafe(32),
    }
    os.environ.update(env)
    upgrade(env["DATABASE_URL"])
    return services


def make_app(**overrides):
    """An app built from the benchmark environment."""
    from saas.app import create_app
    from saas.config import Config

    return create_app(Config.from_env(password_time_cost=1, **overrides))


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    """Print one aligned table."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
