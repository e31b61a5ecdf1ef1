"""Platform-level tables: operators and the platform audit log. Not tenant-scoped."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

OPERATOR_ROLES = ("support", "admin")


class Operator(Base):
    """A person who runs the platform (``support`` or ``admin``); never sees clinical data."""

    __tablename__ = "operators"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: The TOTP secret sealed with the platform's operator key, base64 (``bytea`` is kept for
    #: values sealed with clinic keys; see :mod:`admin.platform.auth`).
    totp_secret: Mapped[str] = mapped_column(Text)
    #: Last accepted TOTP time step: a code is accepted once only.
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped to end every session of this operator.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class PlatformAuditEntry(Base):
    """One operator action; append-only, one hash chain for the platform (``seq`` 1, 2, ...)."""

    __tablename__ = "platform_audit_log"
    __table_args__ = (Index("ix_platform_audit_log_clinic", "clinic_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    actor_kind: Mapped[str | None] = mapped_column(String(20))
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    #: The clinic concerned, if any (no foreign key: the fact outlives the clinic's rows).
    #: Not ``tenant_id``: this platform table is not clinic-scoped (no RLS).
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    target: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONB, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class ClinicUsage(Base):
    """A clinic's usage figures (numbers only), counted by a worker job for the operators.

    The operator role reads this table and no clinic table: the counts are made by the
    runtime role with one clinic bound at a time (:mod:`admin.platform.usage`).
    """

    __tablename__ = "clinic_usage"

    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    practitioners: Mapped[int] = mapped_column(BigInteger, default=0)
    patients: Mapped[int] = mapped_column(BigInteger, default=0)
    appointments_month: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_month: Mapped[int] = mapped_column(BigInteger, default=0)
    last_activity: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Bytes of the clinic's attachments (sizes only; the files stay sealed).
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Messages waiting for a retry, and given up after the last attempt.
    messages_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_dead: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the oldest message still to be delivered was written (None: none pending).
    oldest_pending_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The platform subscription's status and the Connect account's state (None: none).
    subscription_status: Mapped[str | None] = mapped_column(String(24))
    connect_state: Mapped[str | None] = mapped_column(String(24))
    counted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
