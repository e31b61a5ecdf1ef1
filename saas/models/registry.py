"""Every model of every feature, and what their columns declare.

The models are spread over ``saas.models`` (core), ``saas.scheduling.models`` and
``saas.records.models``; :func:`all_metadata` imports them all, so a check over "the
models" (``saas db check``, the sealed-column registry) can never miss a feature's tables.

Sealed columns are declared where the column is: ``mapped_column("body_enc", LargeBinary,
info={"sealed": True})``. The value is AES-GCM ciphertext under the clinic's data key
(:mod:`saas.fields`) whose associated data names the table, the *attribute* name (``body``,
not ``body_enc``) and the row id. :func:`sealed_columns` is the one list of them: key
rotation re-encrypts exactly these (:mod:`saas.records.keys`), and a catalog test holds the
database to it (``tests/foundation/test_sealed_columns.py``).
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import MetaData

from .base import Base

#: ``Column.info`` key that marks a sealed column.
SEALED = "sealed"


class SealedColumn(NamedTuple):
    """One sealed column: table, database column, and the name sealed into the ciphertext."""

    table: str
    column: str
    logical: str


def all_metadata() -> MetaData:
    """The metadata of every model (core, scheduling, records)."""
    import saas.records.models  # noqa: F401 - registers its tables
    import saas.scheduling.models  # noqa: F401

    return Base.metadata


def sealed_columns() -> list[SealedColumn]:
    """Every column declared ``info={"sealed": True}``, sorted by table and column."""
    all_metadata()
    found = {
        SealedColumn(mapper.local_table.name, column.name, key)
        for mapper in Base.registry.mappers
        for key, column in mapper.columns.items()
        if column.info.get(SEALED)
    }
    return sorted(found)
