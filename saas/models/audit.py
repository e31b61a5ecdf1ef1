"""The audit log and the transactional outbox."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, tenant_fk, utcnow


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
    __table_args__ = (
        tenant_fk("outbox"),
        UniqueConstraint("tenant_id", "delivery_key", name="uq_outbox_delivery_key"),
    )

    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONB)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(BigInteger, default=0)
    #: queued, sending, sent, failed (retry due at next_attempt_at), dead or skipped
    state: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    #: why a skipped message was not sent ("no consent", "erased patient", "no address")
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    #: the last failure, without contact data (error class and SMTP code)
    last_error: Mapped[str | None] = mapped_column(String(300))
    #: the provider's id for the sent message (the email's Message-ID)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    #: the producer's name for the message (unique per clinic); None for one-off messages
    delivery_key: Mapped[str | None] = mapped_column(String(200))
    #: when the message is due: its retry time, or the claim's lease while sending
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SmsUsage(Base):
    """Texts a clinic sent in a calendar month (UTC): what a plan's SMS limit is counted on."""

    __tablename__ = "sms_usage"
    __table_args__ = (tenant_fk("sms_usage"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: the first day of the month
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    segments: Mapped[int] = mapped_column(BigInteger, default=0)
