"""Sealed JSON/text helpers.

Every sealed value is bound (AES-GCM associated data) to tenant, table, *logical* column
name (the model attribute: ``body`` for ``body_enc``) and row id. Which columns are sealed
is declared on the models (``info={"sealed": True}``) and listed by
:func:`saas.models.registry.sealed_columns`; ``SEALED_COLUMNS`` here is that list.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from saas.fields import open_field, seal_field
from saas.models import Tenant
from saas.models.registry import sealed_columns

#: (table, database column, logical column) of every sealed column, from the models.
SEALED_COLUMNS = sealed_columns()


def seal_json(sess: Session, tenant: Tenant, table: str, column: str, row_id, obj) -> bytes:
    """Seal a JSON-serialisable value."""
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str)
    return seal_field(sess, tenant, table, column, row_id, text)


def open_json(sess: Session, tenant_id, table: str, column: str, row_id, blob: bytes | None):
    """Open a value sealed by :func:`seal_json` (None stays None)."""
    if blob is None:
        return None
    return json.loads(open_field(sess, tenant_id, table, column, row_id, blob))


def seal_text(sess: Session, tenant: Tenant, table: str, column: str, row_id, text: str | None):
    """Seal a text value (None stays None)."""
    return None if text is None else seal_field(sess, tenant, table, column, row_id, text)


def open_text(sess: Session, tenant_id, table: str, column: str, row_id, blob: bytes | None):
    """Open a text value (None stays None)."""
    return None if blob is None else open_field(sess, tenant_id, table, column, row_id, blob)
