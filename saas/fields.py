"""Seal and open a clinic's fields using its current data key (looked up under RLS).

Text values are sealed as their UTF-8 bytes, so :func:`seal_field`/:func:`open_field` and
the ``_bytes_`` variants (attachments, export bundles) share one stored format and one
rotation path (:func:`reseal`).
"""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from .crypto import KeyService, blob_version, open_with, seal_with
from .models import Tenant, TenantDataKey


def key_service() -> KeyService:
    """The app's key service; on the operator console's requests its own, blind one.

    :mod:`admin.platform` sets ``g.similia_keys`` to the key service holding the operator
    token, whose Vault policy cannot use clinic keys: whatever an operator page calls, a
    clinic field cannot be opened there.
    """
    return g.get("similia_keys") or current_app.extensions["similia.keys"]


def _wrapped(sess: Session, tenant_id, version: int) -> str:
    wrapped = sess.scalar(
        select(TenantDataKey.wrapped).where(
            TenantDataKey.tenant_id == tenant_id, TenantDataKey.version == version
        )
    )
    if wrapped is None:
        raise LookupError(f"no data key version {version} for tenant {tenant_id}")
    return wrapped


def _key(sess: Session, tenant_id, version: int) -> bytes:
    """A plaintext data key (no Vault call, nor even a key lookup, when cached)."""
    return key_service().data_key(tenant_id, version, lambda: _wrapped(sess, tenant_id, version))


def _cipher(sess: Session, tenant_id, version: int):
    """The cached AES-GCM cipher of a data-key version (no Vault call when warm)."""
    return key_service().cipher(tenant_id, version, lambda: _wrapped(sess, tenant_id, version))


def seal_field(sess: Session, tenant: Tenant, table: str, column: str, row_id, value: str) -> bytes:
    """Encrypt ``value`` for one column of one row with the clinic's current data key."""
    return seal_bytes_field(sess, tenant, table, column, row_id, value.encode())


def open_field(sess: Session, tenant_id, table: str, column: str, row_id, blob: bytes) -> str:
    """Decrypt a value sealed by :func:`seal_field` (any data-key version still held)."""
    return open_bytes_field(sess, tenant_id, table, column, row_id, blob).decode()


def seal_bytes_field(
    sess: Session, tenant: Tenant, table: str, column: str, row_id, data: bytes
) -> bytes:
    """Encrypt binary ``data`` (an attachment, an export bundle) like :func:`seal_field`."""
    aead = _cipher(sess, tenant.id, tenant.dek_version)
    return seal_with(aead, tenant.dek_version, tenant.id, table, column, row_id, data)


def open_bytes_field(
    sess: Session, tenant_id, table: str, column: str, row_id, blob: bytes
) -> bytes:
    """Decrypt a value sealed by :func:`seal_bytes_field`."""
    blob = bytes(blob)
    aead = _cipher(sess, tenant_id, blob_version(blob))
    return open_with(aead, tenant_id, table, column, row_id, blob)


def reseal(sess: Session, tenant: Tenant, table: str, column: str, row_id, blob: bytes) -> bytes:
    """Re-encrypt a sealed value under the clinic's current data key (key rotation)."""
    data = open_bytes_field(sess, tenant.id, table, column, row_id, blob)
    return seal_bytes_field(sess, tenant, table, column, row_id, data)


def blind_index(sess: Session, tenant_id, purpose: str, value: str) -> str:
    """Keyed HMAC of a normalised value for exact lookups without decrypting.

    The index key is derived (HKDF) from the clinic's first data key, which is kept (and only
    rewrapped) forever, so indexes stay valid across data-key rotation.
    """
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    base = _key(sess, tenant_id, 1)
    index_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"similia-index:{purpose}".encode()
    ).derive(base)
    return hmac.new(index_key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


class FieldOpener:
    """Open many sealed values of one clinic quickly (a page of rows).

    Same checks as :func:`open_field` (format byte, data-key version, AES-GCM with the
    tenant/table/column/row associated data); the cipher of each data-key version is looked
    up once per page instead of once per value.
    """

    def __init__(self, sess: Session, tenant_id) -> None:
        self.sess = sess
        self.tenant_id = tenant_id
        self._ciphers: dict = {}

    def open(self, table: str, column: str, row_id, blob: bytes | None) -> str | None:
        """The plaintext of one value (None stays None)."""
        if blob is None:
            return None
        blob = bytes(blob)
        version = blob_version(blob)
        aead = self._ciphers.get(version)
        if aead is None:
            aead = self._ciphers[version] = _cipher(self.sess, self.tenant_id, version)
        return open_with(aead, self.tenant_id, table, column, row_id, blob).decode()
