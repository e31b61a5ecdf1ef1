"""The runtime role gets its password from ``APP_DATABASE_PASSWORD`` when one is given.

Where the database takes passwords over TCP (the embedded development server does since
this version; production always does), the app connects as ``similia_app`` with the
password in ``APP_DATABASE_PASSWORD``. Operators who manage the role's password themselves
leave the variable unset and this migration changes nothing.

Revision ID: 0007_runtime_role_password
Revises: 0006_settings_sections
"""

from __future__ import annotations

import os

from alembic import op

from migrations.helpers import RUNTIME_ROLE

revision = "0007_runtime_role_password"
down_revision = "0006_settings_sections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Set the runtime role's password when the environment names one."""
    password = os.environ.get("APP_DATABASE_PASSWORD")
    if password:
        quoted = password.replace("'", "''")
        op.execute(f"ALTER ROLE {RUNTIME_ROLE} PASSWORD '{quoted}'")


def downgrade() -> None:
    """Passwords are not taken back."""
