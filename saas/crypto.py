"""Envelope encryption of clinic data with per-tenant keys held in Vault/OpenBao.

Each clinic has a transit key ``tenant-<uuid>`` (never leaves Vault) and data keys (DEKs)
created with transit ``datakey``; only the wrapped DEK is stored in Postgres. The plaintext
DEK is cached in process memory for ``ttl`` seconds, so steady-state requests make no Vault
call. Fields are sealed with AES-256-GCM; the associated data binds tenant, table, column and
row id, so ciphertext copied to another row or clinic fails to open.

Stored format: ``0x01 | dek_version (4 bytes, big-endian) | nonce (12) | ciphertext+tag``.
If Vault is unreachable, :class:`KeyServiceUnavailable` is raised (the app answers 503);
nothing is ever written in clear as a fallback.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable

import hvac
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

FORMAT_V1 = 1
_HEADER = struct.Struct(">BI")


class KeyServiceUnavailable(RuntimeError):
    """Vault/OpenBao cannot be reached or refused the call; retry later."""


class TenantKeyMissing(KeyServiceUnavailable):
    """The clinic's transit key does not exist (mistyped, or deleted: crypto-shredded).

    Never "fixed" by creating a key: ``disable_upsert`` is set and the runtime policy has no
    ``create`` capability, so encrypting to a missing key is an error, not a new key.
    """


class DecryptionError(RuntimeError):
    """A ciphertext does not open under this tenant/table/column/row."""


def key_name(tenant_id: uuid.UUID | str) -> str:
    """Transit key name of a clinic."""
    return f"tenant-{tenant_id}"


@functools.lru_cache(maxsize=4096)
def _aad_prefix(tenant_id, table: str, column: str) -> str:
    return f"similia|{tenant_id}|{table}|{column}|"


def _aad(tenant_id, table: str, column: str, row_id) -> bytes:
    return (_aad_prefix(tenant_id, table, column) + str(row_id)).encode()


class KeyService:
    """Talks to Vault transit: runtime token for data keys, admin token for key lifecycle."""

    def __init__(
        self,
        addr: str,
        token: str,
        admin_token: str,
        *,
        shredder_token: str | None = None,
        ttl: int = 300,
    ) -> None:
        self.addr = addr
        self._runtime = hvac.Client(url=addr, token=token, timeout=5)
        self._admin = hvac.Client(url=addr, token=admin_token, timeout=5)
        #: Only the operator's tooling holds the shredding token (see shredder.hcl).
        self._shredder = (
            hvac.Client(url=addr, token=shredder_token, timeout=5) if shredder_token else None
        )
        self.ttl = ttl
        #: (tenant, DEK version) -> (plaintext DEK, fresh until (monotonic), its cipher)
        self._cache: dict[tuple[str, int], tuple[bytes, float, AESGCM]] = {}
        self._lock = threading.Lock()
        #: Number of Vault calls made (for benchmarks and tests).
        self.vault_calls = 0

    # -- Vault calls -------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        self.vault_calls += 1
        try:
            return fn(*args, **kwargs)
        except (requests.exceptions.RequestException, hvac.exceptions.VaultDown) as exc:
            log.error("vault unreachable: %s", exc.__class__.__name__)
            raise KeyServiceUnavailable("The key service is unavailable.") from exc
        except hvac.exceptions.InvalidPath as exc:
            log.error("vault key missing for %s: %s", getattr(fn, "__name__", fn), exc)
            raise TenantKeyMissing(f"The clinic's key does not exist: {exc}") from exc
        except hvac.exceptions.VaultError as exc:
            text = str(exc).lower()
            if "key not found" in text or "no existing key named" in text:
                log.error("vault key missing for %s: %s", getattr(fn, "__name__", fn), exc)
                raise TenantKeyMissing(f"The clinic's key does not exist: {exc}") from exc
            log.error("vault refused %s: %s", getattr(fn, "__name__", fn), exc)
            raise KeyServiceUnavailable(f"The key service refused the request: {exc}") from exc

    def create_tenant_key(self, tenant_id) -> str:
        """Create the clinic's transit key and its first data key; return the wrapped DEK."""
        self._call(
            self._admin.secrets.transit.create_key,
            name=key_name(tenant_id),
            key_type="aes256-gcm96",
        )
        return self.new_wrapped_dek(tenant_id)

    def new_wrapped_dek(self, tenant_id) -> str:
        """A fresh 256-bit data key, wrapped by the clinic's transit key."""
        resp = self._call(
            self._admin.secrets.transit.generate_data_key,
            name=key_name(tenant_id),
            key_type="wrapped",
            bits=256,
        )
        return resp["data"]["ciphertext"]

    def delete_tenant_key(self, tenant_id) -> None:
        """Hard-delete the clinic's transit key: its data keys, and so its data, are gone.

        Needs the shredder token (``VAULT_SHREDDER_TOKEN``); the key-admin token cannot.
        """
        if self._shredder is None:
            raise KeyServiceUnavailable(
                "Deleting a clinic's key needs VAULT_SHREDDER_TOKEN (operator tooling only)."
            )
        name = key_name(tenant_id)
        self._call(
            self._shredder.secrets.transit.update_key_configuration,
            name=name,
            deletion_allowed=True,
        )
        self._call(self._shredder.secrets.transit.delete_key, name=name)
        self.forget(tenant_id)

    def rotate_transit_key(self, tenant_id) -> int:
        """Add a new version of the clinic's transit key (admin token); returns it."""
        name = key_name(tenant_id)
        self._call(self._admin.secrets.transit.rotate_key, name=name)
        return self.key_info(tenant_id)["latest_version"]

    def rewrap_data_key(self, tenant_id, wrapped: str) -> str:
        """Re-encrypt a wrapped data key under the latest transit key version (no plaintext)."""
        resp = self._call(
            self._admin.secrets.transit.rewrap_data, name=key_name(tenant_id), ciphertext=wrapped
        )
        return resp["data"]["ciphertext"]

    def set_min_decryption_version(self, tenant_id, version: int) -> None:
        """Refuse transit ciphertext older than ``version`` (after every DEK was rewrapped)."""
        self._call(
            self._admin.secrets.transit.update_key_configuration,
            name=key_name(tenant_id),
            min_decryption_version=version,
        )

    def key_info(self, tenant_id) -> dict:
        """Transit key metadata.

        ``latest_version``, ``min_decryption_version`` and ``deletion_allowed``.
        """
        resp = self._call(self._admin.secrets.transit.read_key, name=key_name(tenant_id))
        data = resp["data"]
        return {
            "name": data["name"],
            "latest_version": data["latest_version"],
            "min_decryption_version": data["min_decryption_version"],
            "deletion_allowed": data.get("deletion_allowed", False),
            "versions": sorted(int(v) for v in (data.get("keys") or {})),
        }

    def unwrap(self, tenant_id, wrapped: str) -> bytes:
        """Decrypt a wrapped data key with the runtime token (no cache)."""
        resp = self._call(
            self._runtime.secrets.transit.decrypt_data, name=key_name(tenant_id), ciphertext=wrapped
        )
        return base64.b64decode(resp["data"]["plaintext"])

    def healthy(self) -> bool:
        """True when Vault answers and is unsealed."""
        try:
            return bool(self._runtime.sys.is_initialized()) and not self._runtime.sys.is_sealed()
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False

    # -- data keys ---------------------------------------------------------------------
    def _loaded(self, tenant_id, version: int, wrapped: str | Callable[[], str]):
        """The cache entry of a DEK version, unwrapped through Vault when missing or stale.

        ``wrapped`` may be a callable, so the wrapped key is looked up only on a miss.
        """
        hit = self._cache.get((str(tenant_id), version))
        if hit is None or hit[1] <= time.monotonic():
            key = self.unwrap(tenant_id, wrapped() if callable(wrapped) else wrapped)
            hit = (key, time.monotonic() + self.ttl, AESGCM(key))
            with self._lock:
                self._cache[(str(tenant_id), version)] = hit
        return hit

    def data_key(self, tenant_id, version: int, wrapped: str | Callable[[], str]) -> bytes:
        """The plaintext DEK, from the in-memory cache when fresh, else unwrapped by Vault."""
        return self._loaded(tenant_id, version, wrapped)[0]

    def cipher(self, tenant_id, version: int, wrapped: str | Callable[[], str]) -> AESGCM:
        """The AES-GCM cipher of a DEK version (built once per key, not per field)."""
        return self._loaded(tenant_id, version, wrapped)[2]

    def forget(self, tenant_id=None) -> None:
        """Drop cached data keys (of one clinic, or all)."""
        with self._lock:
            if tenant_id is None:
                self._cache.clear()
            else:
                for k in [k for k in self._cache if k[0] == str(tenant_id)]:
                    del self._cache[k]


def seal_with(
    aead: AESGCM, version: int, tenant_id, table: str, column: str, row_id, data: bytes
) -> bytes:
    """Encrypt one value with the cipher of DEK ``version`` (the cached one)."""
    nonce = os.urandom(12)
    ct = aead.encrypt(nonce, data, _aad(tenant_id, table, column, row_id))
    return _HEADER.pack(FORMAT_V1, version) + nonce + ct


def blob_version(blob: bytes) -> int:
    """The data-key version a sealed value was written with."""
    if len(blob) < _HEADER.size + 12 + 16:
        raise DecryptionError("ciphertext is truncated")
    fmt, version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise DecryptionError(f"unknown ciphertext format {fmt}")
    return version


def open_with(aead: AESGCM, tenant_id, table: str, column: str, row_id, blob: bytes) -> bytes:
    """Decrypt a value sealed by :func:`seal_with`; :class:`DecryptionError` on any mismatch."""
    blob = bytes(blob)
    blob_version(blob)
    nonce, ct = blob[_HEADER.size : _HEADER.size + 12], blob[_HEADER.size + 12 :]
    try:
        return aead.decrypt(nonce, ct, _aad(tenant_id, table, column, row_id))
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not belong to this record") from exc
