"""``saas db check``: the models agree with the migrated schema, and the check can fail."""

from __future__ import annotations

import os

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, Text, create_engine, pool
from sqlalchemy.engine import make_url

from tests.conftest import _pid_alive, _psycopg_url


def _db_check(database_url: str):
    """Run ``saas db check`` through the real command line against ``database_url``."""
    from saas.cli import main

    return CliRunner().invoke(main, ["db", "check"], env={"DATABASE_URL": database_url})


def test_models_match_the_migrated_database(service_env):
    """The session's freshly migrated database matches every model (``make test`` runs it)."""
    result = _db_check(service_env["DATABASE_URL"])
    assert result.exit_code == 0, result.output
    assert "Models match the database" in result.output
    assert "differs:" not in result.output and "stale" not in result.output


@pytest.fixture
def scratch_url(service_env):
    """A second database migrated like the session's, for a test to damage."""
    from saas.migrate import upgrade

    admin = _psycopg_url(service_env["DATABASE_URL"])
    name = f"similia_check_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        for (old,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'similia_check_%'"
        ).fetchall():
            if old == name or not _pid_alive(int(old.rsplit("_", 1)[1])):
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(service_env["DATABASE_URL"]).set(database=name)
    url = url.render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_check_fails_listing_every_kind_of_difference(scratch_url):
    """Extra/missing tables and columns, types, nullability, keys and declared uniques: exit 1."""
    with psycopg.connect(_psycopg_url(scratch_url), autocommit=True) as conn:
        for sql in (
            "CREATE TABLE probe_table (id int)",
            "DROP TABLE waitlist_offers",
            "ALTER TABLE key_rotations ADD COLUMN probe_note text",
            "ALTER TABLE patient_consents DROP COLUMN withdrawn_channel",
            "ALTER TABLE audit_log ALTER COLUMN request_id TYPE text",
            "ALTER TABLE outbox ALTER COLUMN topic DROP NOT NULL",
            "ALTER TABLE case_notes DROP CONSTRAINT case_notes_tenant_id_author_id_fkey",
            "ALTER TABLE users DROP CONSTRAINT uq_users_tenant_email",
            "CREATE INDEX ix_probe_patients_status ON patients (tenant_id, status)",
        ):
            conn.execute(sql)
    result = _db_check(scratch_url)
    assert result.exit_code == 1, result.output
    expected = [
        "probe_table: table is on no model",
        "waitlist_offers: table is on a model, not in the database",
        "key_rotations.probe_note: column is in the database, not on the model",
        "patient_consents.withdrawn_channel: column is on the model, not in the database",
        "audit_log.request_id: type is TEXT in the database, VARCHAR(64) on the model",
        "outbox.topic: NULL in the database, NOT NULL on the model",
        "case_notes: foreign key (tenant_id, author_id) -> users (tenant_id, id)"
        " is on the model, not in the database",
        "users: unique constraint uq_users_tenant_email (tenant_id, email)"
        " is on the model, not in the database",
    ]
    differs = [line for line in result.output.splitlines() if line.startswith("differs: ")]
    assert sorted(differs) == sorted(f"differs: {line}" for line in expected), result.output
    assert "ix_probe_patients_status" not in result.output  # database-only index: ignored


def test_a_model_change_and_a_stale_excuse_are_reported(service_env, monkeypatch):
    """A model that drifts (simulated on a copy) is listed; a PENDING entry must still apply."""
    from saas import schema
    from saas.models.registry import all_metadata

    copy = MetaData()
    for table in all_metadata().tables.values():
        table.to_metadata(copy)
    copy.tables["patients"].c.full_name.type = Text()
    copy.tables["patients"].c.preferred_language.nullable = False
    engine = create_engine(service_env["DATABASE_URL"], poolclass=pool.NullPool)
    with engine.connect() as conn:
        found = schema.differences(conn, copy)
    engine.dispose()
    assert "patients.full_name: type is VARCHAR(160) in the database, TEXT on the model" in found
    assert "patients.preferred_language: NULL in the database, NOT NULL on the model" in found

    monkeypatch.setattr(schema, "PENDING", schema.PENDING | {"nowhere: already fixed"})
    result = _db_check(service_env["DATABASE_URL"])
    assert result.exit_code == 1
    assert "stale PENDING entry, no longer differs (remove it): nowhere: already fixed" in (
        result.output
    )
