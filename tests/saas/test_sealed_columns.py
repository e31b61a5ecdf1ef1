"""Sealed columns: declared on the models, ``bytea`` in the database, re-encrypted by rotation.

The models declare each sealed column (``info={"sealed": True}``); key rotation re-encrypts
what they declare. This guard walks the database catalog and the SQL the re-encryption job
runs, so a new ``*_enc`` column that nobody declared, a declared column stored as text, or a
column the rotation skips cannot slip through. The last two tests prove it can fail.
"""

from __future__ import annotations

import re

import psycopg

from tests.factories import ClinicFactory
from tests.factories.base import clinic_session

COLUMNS_QUERY = """
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
"""


def sealed_column_problems(conn, declared, rotated: set[tuple[str, str]]) -> list[str]:
    """What is wrong between the declared sealed columns, the database and key rotation.

    ``bytea`` is reserved for sealed values in this schema, and ``*_enc`` names them: any
    such column must be declared sealed.
    """
    types = {(t, c): data_type for t, c, data_type in conn.execute(COLUMNS_QUERY).fetchall()}
    names = {(d.table, d.column) for d in declared}
    problems = []
    for table, column in sorted(names):
        if (table, column) not in types:
            problems.append(f"{table}.{column}: declared sealed, not in the database")
        elif types[table, column] != "bytea":
            problems.append(
                f"{table}.{column}: declared sealed, {types[table, column]} in the database"
            )
        if (table, column) not in rotated:
            problems.append(f"{table}.{column}: declared sealed, not re-encrypted by key rotation")
    for (table, column), data_type in sorted(types.items()):
        if (data_type == "bytea" or column.endswith("_enc")) and (table, column) not in names:
            problems.append(f"{table}.{column}: {data_type} in the database, not declared sealed")
    return problems


def rotated_columns(app, clinic_id, declared) -> set[tuple[str, str]]:
    """Declared columns that data-key re-encryption reads, from the SQL it runs for a clinic.

    A fresh clinic has nothing on an old data key, so one batch visits every column it
    knows; a column counts as covered when both the batch and the progress count
    (``remaining``) query it.
    """
    from sqlalchemy import event

    from saas.models import Tenant
    from saas.records.keys import reencrypt_batch, remaining

    engine = app.extensions["similia.engine"]
    statements: dict[str, list[str]] = {"batch": [], "remaining": []}
    current: list[str] = []

    def capture(conn, cursor, statement, params, context, executemany):
        current.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with clinic_session(app, clinic_id) as sess:
            tenant = sess.get(Tenant, clinic_id)
            current.clear()
            assert reencrypt_batch(sess, tenant) == 0
            statements["batch"] = list(current)
            current.clear()
            assert remaining(sess, tenant) == {}
            statements["remaining"] = list(current)
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    def read_by(stmts, table, column):
        return any(
            re.search(rf"\bFROM {table}\b", s) and re.search(rf"\b{column}\b", s) for s in stmts
        )

    return {
        (d.table, d.column)
        for d in declared
        if read_by(statements["batch"], d.table, d.column)
        and read_by(statements["remaining"], d.table, d.column)
    }


def test_every_sealed_column_is_declared_bytea_and_rotated(app, owner_dsn):
    """Walk the catalog and the rotation job: no sealed column is missed anywhere."""
    from saas.models import SEALED_PATIENT_FIELDS
    from saas.models.registry import sealed_columns
    from saas.records.sealing import SEALED_COLUMNS

    declared = sealed_columns()
    assert {("users", "totp_secret"), ("patients", "email_enc"), ("case_notes", "body_enc")} <= {
        (d.table, d.column) for d in declared
    }
    assert len(declared) >= 17
    assert SEALED_COLUMNS == declared  # the rotation's list is the models' declarations
    assert set(SEALED_PATIENT_FIELDS) == {d.logical for d in declared if d.table == "patients"}
    rotated = rotated_columns(app, ClinicFactory().id, declared)
    with psycopg.connect(owner_dsn) as conn:
        assert sealed_column_problems(conn, declared, rotated) == []


def test_guard_catches_undeclared_and_mistyped_sealed_columns(owner_dsn):
    """A new ``*_enc`` or bytea column, a declared text column, a missing one: all reported."""
    from saas.models.registry import SealedColumn, sealed_columns

    declared = [
        *sealed_columns(),
        SealedColumn("patients", "full_name", "full_name"),
        SealedColumn("patients", "ghost_enc", "ghost"),
    ]
    rotated = {(d.table, d.column) for d in declared}
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "CREATE TABLE sealed_probe (tenant_id uuid NOT NULL, id uuid, "
            "secret_enc bytea, token bytea, note_enc text)"
        )
        try:
            problems = sealed_column_problems(conn, declared, rotated)
        finally:
            conn.rollback()
    assert problems == [
        "patients.full_name: declared sealed, character varying in the database",
        "patients.ghost_enc: declared sealed, not in the database",
        "sealed_probe.note_enc: text in the database, not declared sealed",
        "sealed_probe.secret_enc: bytea in the database, not declared sealed",
        "sealed_probe.token: bytea in the database, not declared sealed",
    ]


def test_guard_catches_a_column_that_rotation_skips(app, owner_dsn, monkeypatch):
    """If re-encryption forgot a declared column, the guard names it."""
    import saas.records.keys
    from saas.models.registry import sealed_columns

    declared = sealed_columns()
    skipped = [d for d in declared if (d.table, d.column) != ("case_notes", "reason_enc")]
    monkeypatch.setattr(saas.records.keys, "sealed_columns", lambda: skipped)
    rotated = rotated_columns(app, ClinicFactory().id, declared)
    with psycopg.connect(owner_dsn) as conn:
        problems = sealed_column_problems(conn, declared, rotated)
    assert problems == ["case_notes.reason_enc: declared sealed, not re-encrypted by key rotation"]
