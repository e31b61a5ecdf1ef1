"""Sealed JSON/text helpers and the registry of every sealed column (for key rotation).

Every sealed value is bound (AES-GCM associated data) to tenant, table, *logical* column
name and row id; :data:`SEALED_COLUMNS` maps each database column to that logical name so
the re-encryption worker can open and re-seal it.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from saas.fields import open_field, seal_field
from saas.models import Tenant

#: (table, database column, logical column used in the associated data)
SEALED_COLUMNS: list[tuple[str, str, str]] = [
    ("users", "totp_secret", "totp_secret"),
    ("patients", "email_enc", "email"),
    ("patients", "phone_enc", "phone"),
    ("patients", "date_of_birth_enc", "date_of_birth"),
    ("patients", "address_enc", "address"),
    ("patients", "emergency_contact_enc", "emergency_contact"),
    ("clinical_visits", "patient_summary_enc", "patient_summary"),
    ("case_notes", "body_enc", "body"),
    ("case_notes", "reason_enc", "reason"),
    ("prescriptions", "details_enc", "details"),
    ("prescriptions", "amendment_reason_enc", "amendment_reason"),
    ("prescriptions", "void_reason_enc", "void_reason"),
    ("clinical_facts", "details_enc", "details"),
    ("clinical_facts", "end_reason_enc", "end_reason"),
    ("patient_attachments", "filename_enc", "filename"),
    ("patient_attachments", "content_enc", "content"),
    ("record_exports", "bundle_enc", "bundle"),
]


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
