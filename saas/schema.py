"""The models against the migrated database (``saas db check``).

The migrations are hand-written SQL and are the truth about the schema; the models are how
the code sees it. Alembic's ``compare_metadata`` reflects the database and lists where the
two disagree; :func:`check` turns that into one sentence per difference.

Decisions:

- **Compared:** tables (missing on either side), columns (missing on either side), column
  types (``compare_type``), nullability, foreign keys (columns, target and ``ON DELETE``),
  and every index and unique constraint *the models declare* (missing or different).
- **Ignored:** indexes and unique constraints that exist only in the database (partial,
  expression and per-tenant lookup indexes are the migrations' business: the ORM neither
  uses nor creates them); check and exclusion constraints, RLS policies, grants, triggers
  and functions (Alembic does not reflect them; ``tests/foundation/test_isolation.py``
  guards RLS); server defaults (``compare_server_default=False``: the models set defaults
  in Python); Alembic's own ``alembic_version`` table.
- **Known differences** the check must tolerate for now are listed in :data:`PENDING`, each
  with its owner; they are reported but do not fail. An entry that no longer differs fails
  the check ("stale"), so a fix cannot leave its excuse behind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import ForeignKeyConstraint, Index, MetaData, create_engine, pool
from sqlalchemy.dialects import postgresql

from saas.models.registry import all_metadata

#: Differences accepted until their owner fixes the model, as ``saas db check`` prints them
#: (none today: add an entry only with an issue that fixes it).
PENDING: frozenset[str] = frozenset()

_DIALECT = postgresql.dialect()


@dataclass
class Result:
    """What :func:`check` found: new differences, tolerated ones, and stale excuses."""

    differences: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No new difference and no stale :data:`PENDING` entry."""
        return not (self.differences or self.stale)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Skip what only the database has and the models never declare (see module doc)."""
    if type_ in ("index", "unique_constraint") and reflected and compare_to is None:
        return False
    return True


def differences(connection, metadata: MetaData | None = None) -> list[str]:
    """Every difference between ``metadata`` (default: all models) and the database."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": False,
            "include_object": include_object,
        },
    )
    if metadata is None:
        import billing.models  # noqa: F401 - billing's tables (no sealed columns; workers skip it)

        metadata = all_metadata()
    diffs = compare_metadata(context, metadata)
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return sorted(set(_describe_all(flat)))


def check(database_url: str, *, pending: Collection[str] | None = None) -> Result:
    """Compare all models with the database at ``database_url`` (the owner's URL).

    ``pending``: the differences to tolerate (default :data:`PENDING`).
    """
    pending = PENDING if pending is None else pending
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            found = differences(conn)
    finally:
        engine.dispose()
    return Result(
        differences=[d for d in found if d not in pending],
        known=[d for d in found if d in pending],
        stale=sorted(p for p in pending if p not in found),
    )


# -- one sentence per difference --------------------------------------------------------
MODEL_ONLY = "is on the model, not in the database"
DATABASE_ONLY = "is in the database, not on the model"


def _type(t) -> str:
    return t.compile(dialect=_DIALECT)


def _cols(obj) -> str:
    items = obj.expressions if isinstance(obj, Index) else obj.columns
    return ", ".join(str(getattr(c, "name", c)) for c in items)


def _fk_key(fk: ForeignKeyConstraint) -> tuple:
    targets = [e.target_fullname.rsplit(".", 1) for e in fk.elements]
    return fk.table.name, tuple(fk.column_keys), targets[0][0], tuple(c for _, c in targets)


def _fk(fk: ForeignKeyConstraint, *, options: bool = False) -> str:
    table, source, target, target_cols = _fk_key(fk)
    text = f"{table}: foreign key ({', '.join(source)}) -> {target} ({', '.join(target_cols)})"
    return f"{text} {_fk_options(fk)}".rstrip() if options else text


def _fk_options(fk: ForeignKeyConstraint, *, none: str = "") -> str:
    parts = [f"ON DELETE {fk.ondelete}" if fk.ondelete else ""]
    parts.append(f"ON UPDATE {fk.onupdate}" if fk.onupdate else "")
    return " ".join(p for p in parts if p) or none


def _describe_all(diffs: list) -> list[str]:
    # a foreign key on both sides with other options shows as remove + add: one sentence
    removed = {_fk_key(d[1]): d[1] for d in diffs if d[0] == "remove_fk"}
    added = {_fk_key(d[1]): d[1] for d in diffs if d[0] == "add_fk"}
    out = [
        f"{_fk(removed[key])} has {_fk_options(removed[key], none='no action')} in the "
        f"database, {_fk_options(added[key], none='no action')} on the model"
        for key in removed.keys() & added.keys()
    ]
    for diff in diffs:
        kind = diff[0]
        if kind in ("remove_fk", "add_fk"):
            if _fk_key(diff[1]) not in removed.keys() & added.keys():
                where = DATABASE_ONLY if kind == "remove_fk" else MODEL_ONLY
                out.append(f"{_fk(diff[1], options=True)} {where}")
        else:
            out.append(_describe(diff))
    return out


def _describe(diff) -> str:
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        where = "is on a model, not in the database" if kind == "add_table" else "is on no model"
        return f"{diff[1].name}: table {where}"
    if kind in ("add_column", "remove_column"):
        _, _, tname, column = diff
        return (
            f"{tname}.{column.name}: column {MODEL_ONLY if kind == 'add_column' else DATABASE_ONLY}"
        )
    if kind == "modify_type":
        _, _, tname, cname, _, db_type, model_type = diff
        return (
            f"{tname}.{cname}: type is {_type(db_type)} in the database, "
            f"{_type(model_type)} on the model"
        )
    if kind == "modify_nullable":
        _, _, tname, cname, _, db_null, model_null = diff
        word = {True: "NULL", False: "NOT NULL"}
        return f"{tname}.{cname}: {word[db_null]} in the database, {word[model_null]} on the model"
    if kind in ("add_index", "remove_index"):
        index: Index = diff[1]
        what = "unique index" if index.unique else "index"
        where = MODEL_ONLY if kind == "add_index" else "differs in the database"
        return f"{index.table.name}: {what} {index.name} ({_cols(index)}) {where}"
    if kind in ("add_constraint", "remove_constraint"):
        const = diff[1]
        where = MODEL_ONLY if kind == "add_constraint" else "differs in the database"
        return f"{const.table.name}: unique constraint {const.name} ({_cols(const)}) {where}"
    return repr(diff)
