"""Apply Alembic migrations as the owner (``DATABASE_URL``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

import migrations


def alembic_config(database_url: str) -> AlembicConfig:
    """Alembic config pointing at the project's migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)
