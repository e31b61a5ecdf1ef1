"""The audit log and the transactional outbox."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, tenant_fk


class AuditEntry(TenantScoped, Base):
    """Append-only, hash-chained per clinic. The runtime role may only INSERT and SELECT."""

    __tablename__ = "audit_log"
    __table_args__ = (
        tenant_fk("audit_log"),
        UniqueConstraint("tenant_id", "seq", name="uq_audit_log_tenant_seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger)  #: 1, 2, 3... per clinic
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_label: Mapped[str] = mapped_column(String(254))
    #: staff, patient, operator, system or payment_provider (NULL on entries written before
    #: kinds were recorded; the hash covers it only when set, so old links still verify).
    actor_kind: Mapped[str | None] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONB, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: sha256 over prev_hash and this entry's canonical JSON.
    hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(TenantScoped, Base):
    """A message written in the same transaction as the change; relayed after commit."""

    __tablename__ = "outbox"
    __table_args__ = (tenant_fk("outbox"),)

    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONB)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(BigInteger, default=0)
