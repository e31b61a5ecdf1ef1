"""Clinic settings by section: ``{"branding": {...}, "feeds": {...}, "records": {...}}``.

The settings registry (``saas/settings.py``) stores each section under its own key; the
flat keys of earlier versions move into their sections. Values equal to today's defaults
are moved as they are (a later change of a default then does not apply to them: they
were chosen, or at least shown, at signup).

Revision ID: 0006_settings_sections
Revises: 0005_visit_types
"""

from __future__ import annotations

from alembic import op

revision = "0006_settings_sections"
down_revision = "0005_visit_types"
branch_labels = None
depends_on = None

MOVES = {"brand_color": "branding", "tagline": "branding", "patient_names_in_feeds": "feeds"}


def upgrade() -> None:
    """Move flat keys into their sections."""
    for key, section in MOVES.items():
        op.execute(
            f"""
            UPDATE tenants
               SET settings = (settings - '{key}') || jsonb_build_object(
                     '{section}',
                     COALESCE(settings -> '{section}', '{{}}'::jsonb)
                       || jsonb_build_object('{key}', settings -> '{key}'))
             WHERE settings ? '{key}'
            """
        )


def downgrade() -> None:
    """Flatten the moved keys again."""
    for key, section in MOVES.items():
        op.execute(
            f"""
            UPDATE tenants
               SET settings = (settings
                               || jsonb_build_object('{key}', settings #> '{{{section},{key}}}'))
                              #- '{{{section},{key}}}'
             WHERE settings #> '{{{section},{key}}}' IS NOT NULL
            """
        )
