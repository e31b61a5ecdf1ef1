"""Data-key rotation, re-encryption, transit rewrap and key status for one clinic.

- **Rotate** (``saas keys rotate --tenant SLUG``): a new data-key version is created with
  transit ``datakey`` and becomes current; new writes use it at once. A worker then
  re-seals every column the models declare sealed
  (:func:`~saas.models.registry.sealed_columns`) in batches of
  :data:`BATCH` rows, each batch its own transaction with ``FOR UPDATE SKIP LOCKED``. Which
  rows remain is read from the ciphertext header itself (bytes 1-4 hold the data-key
  version), so the job needs no cursor: stop it anywhere and it resumes where it was.
  Old data-key versions stay stored (wrapped): version 1 also derives the blind index.
- **Rewrap** (``saas keys rewrap``): rotate the clinic's transit key (unless told it already
  was), rewrap every wrapped data key to the latest transit version (Vault never returns the
  plaintext), commit, and only then raise ``min_decryption_version`` so older transit
  ciphertext is refused from now on. Raising it before the commit could strand data keys.
  If the process dies between the commit and that last step, run ``saas keys rewrap
  --no-rotate`` again: it rewraps (a no-op) and raises the minimum.
- **Status**: transit versions, data-key versions and what wraps them, rows left on old
  data-key versions, and the last rotation jobs.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor
from saas.crypto import KeyService
from saas.db import tenant_session
from saas.fields import reseal
from saas.models import Tenant, TenantDataKey, utcnow
from saas.models.registry import sealed_columns

from .models import KeyRotation

BATCH = 200


def _version_sql(col: str) -> str:
    # header: format byte, then the data-key version as 4 bytes big-endian
    return (
        f"((get_byte({col}, 1) << 24) | (get_byte({col}, 2) << 16) "
        f"| (get_byte({col}, 3) << 8) | get_byte({col}, 4))"
    )


def rotate_data_key(
    sess: Session, keys: KeyService, tenant: Tenant, *, actor_label: str = "operator"
) -> KeyRotation:
    """Create and switch to a new data-key version; returns the re-encryption job row."""
    sess.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    sess.refresh(tenant)
    old = tenant.dek_version
    wrapped = keys.new_wrapped_dek(tenant.id)
    sess.add(TenantDataKey(id=uuid.uuid4(), tenant_id=tenant.id, version=old + 1, wrapped=wrapped))
    tenant.dek_version = old + 1
    job = KeyRotation(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        kind="data_key",
        from_version=old,
        to_version=old + 1,
        status="running",
        rows_done=0,
        created_at=utcnow(),
    )
    sess.add(job)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "keys.data_key_rotated",
        actor=Actor.for_operator(None, actor_label),
        data={"from": old, "to": old + 1},
    )
    return job


def remaining(sess: Session, tenant: Tenant) -> dict[str, int]:
    """Sealed values per ``table.column`` still under an older data-key version."""
    out = {}
    for table, col, _ in sealed_columns():
        n = sess.execute(
            text(
                f"SELECT count(*) FROM {table} WHERE tenant_id = :t AND {col} IS NOT NULL "
                f"AND {_version_sql(col)} < :v"
            ),
            {"t": tenant.id, "v": tenant.dek_version},
        ).scalar_one()
        if n:
            out[f"{table}.{col}"] = n
    return out


def reencrypt_batch(sess: Session, tenant: Tenant, batch_size: int = BATCH) -> int:
    """Re-seal up to ``batch_size`` values under the current data key; returns how many."""
    done = 0
    for table, col, logical in sealed_columns():
        rows = sess.execute(
            text(
                f"SELECT id, {col} FROM {table} WHERE tenant_id = :t AND {col} IS NOT NULL "
                f"AND {_version_sql(col)} < :v LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"t": tenant.id, "v": tenant.dek_version, "n": batch_size - done},
        ).all()
        for row_id, blob in rows:
            sess.execute(
                text(f"UPDATE {table} SET {col} = :b WHERE tenant_id = :t AND id = :id"),
                {
                    "b": reseal(sess, tenant, table, logical, row_id, bytes(blob)),
                    "t": tenant.id,
                    "id": row_id,
                },
            )
        done += len(rows)
        if done >= batch_size:
            break
    return done


def reencrypt_all(
    tenant_id, *, batch_size: int = BATCH, max_batches: int | None = None, progress=None
) -> int:
    """Run batches (each committed) until nothing is left; returns values re-sealed."""
    total = batches = 0
    while max_batches is None or batches < max_batches:
        with tenant_session(tenant_id) as sess:
            tenant = sess.get(Tenant, tenant_id)
            n = reencrypt_batch(sess, tenant, batch_size)
            jobs = list(
                sess.scalars(
                    select(KeyRotation).where(
                        KeyRotation.tenant_id == tenant.id,
                        KeyRotation.kind == "data_key",
                        KeyRotation.status == "running",
                    )
                )
            )
            for job in jobs:
                job.rows_done += n
                if n == 0 and job.to_version <= tenant.dek_version:
                    job.status, job.finished_at = "done", utcnow()
            if n == 0 and jobs:
                audit.record(
                    sess,
                    tenant.id,
                    "keys.reencrypted",
                    actor=Actor.system("reencrypt"),
                    data={"version": tenant.dek_version},
                )
        batches += 1
        total += n
        if progress is not None:
            progress(total)
        if n == 0:
            break
    return total


def rewrap_data_keys(
    sess: Session, keys: KeyService, tenant: Tenant, *, rotate: bool = True
) -> int:
    """Rotate the transit key (optionally) and rewrap every data key.

    Returns the latest transit version. Commit, then call :func:`finish_rewrap`.
    """
    before = keys.key_info(tenant.id)["latest_version"]
    latest = keys.rotate_transit_key(tenant.id) if rotate else before
    rows = list(sess.scalars(select(TenantDataKey).where(TenantDataKey.tenant_id == tenant.id)))
    for row in rows:
        row.wrapped = keys.rewrap_data_key(tenant.id, row.wrapped)
        if not row.wrapped.startswith(f"vault:v{latest}:"):
            raise RuntimeError(f"data key {row.version} was not rewrapped to transit v{latest}")
    sess.add(
        KeyRotation(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            kind="rewrap",
            from_version=before,
            to_version=latest,
            status="done",
            rows_done=len(rows),
            finished_at=utcnow(),
            created_at=utcnow(),
        )
    )
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "keys.rewrapped",
        actor=Actor.for_operator(None, "operator (saas keys rewrap)"),
        data={"transit_from": before, "transit_to": latest, "data_keys": len(rows)},
    )
    return latest


def finish_rewrap(keys: KeyService, tenant: Tenant, latest: int) -> None:
    """After the rewrapped data keys are committed: refuse older transit ciphertext."""
    keys.set_min_decryption_version(tenant.id, latest)


def key_status(sess: Session, keys: KeyService, tenant: Tenant) -> dict:
    """Everything ``saas keys status`` prints for one clinic."""
    info = keys.key_info(tenant.id)
    deks = sess.execute(
        select(TenantDataKey.version, TenantDataKey.wrapped)
        .where(TenantDataKey.tenant_id == tenant.id)
        .order_by(TenantDataKey.version)
    ).all()
    jobs = list(
        sess.scalars(
            select(KeyRotation)
            .where(KeyRotation.tenant_id == tenant.id)
            .order_by(KeyRotation.created_at.desc())
            .limit(5)
        )
    )
    return {
        "tenant": tenant.slug,
        "transit_key": info["name"],
        "transit_latest_version": info["latest_version"],
        "transit_min_decryption_version": info["min_decryption_version"],
        "data_key_version": tenant.dek_version,
        "data_keys": [{"version": v, "wrapped_by": w.split(":")[1]} for v, w in deks],
        "rows_on_old_data_keys": remaining(sess, tenant),
        "jobs": [
            {
                "kind": j.kind,
                "from": j.from_version,
                "to": j.to_version,
                "status": j.status,
                "rows_done": j.rows_done,
                "started": j.created_at,
                "finished": j.finished_at,
            }
            for j in jobs
        ],
    }
