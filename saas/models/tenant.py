"""Platform-level tables: clinics (tenants). Not tenant-scoped, never clinical."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from sqlalchemy import (
    CHAR,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, tenant_fk, utcnow


class Tenant(Base):
    """A clinic; ``status`` is one of :data:`tenants.status.STATUSES`."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(CHAR(2))  #: ISO 3166-1 alpha-2
    currency: Mapped[str] = mapped_column(CHAR(3))  #: ISO 4217
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: Verified custom domain (lower-case host name), if any.
    custom_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    #: Branding and clinic-wide settings (colour, tagline, ...); never clinical data.
    settings: Mapped[dict] = mapped_column(JSONB, default=dict)
    #: When the free trial ends (``trialing`` clinics; an operator may extend it).
    trial_ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the status last changed (the billing sweep measures the past-due grace from it).
    status_changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    #: An operator's adjustments of the plan's limits (``{"max_practitioners": 8}``).
    limit_overrides: Mapped[dict] = mapped_column(JSONB, default=dict)
    #: When a ``closing`` clinic is deleted for good (end of its grace period).
    delete_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Current data-key version (see TenantDataKey).
    dek_version: Mapped[int] = mapped_column(Integer, default=1)
    #: when the clinic's next outbox message falls due (NULL: none); read by the sweep
    outbox_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )

    @property
    def transit_key_name(self) -> str:
        """Name of this clinic's Vault transit key."""
        return f"tenant-{self.id}"


class TenantDataKey(TenantScoped, Base):
    """A version of the clinic's data key, stored only wrapped by its Vault transit key."""

    __tablename__ = "tenant_data_keys"
    __table_args__ = (
        tenant_fk("tenant_data_keys"),
        UniqueConstraint("tenant_id", "version", name="tenant_data_keys_tenant_id_version_key"),
    )

    version: Mapped[int] = mapped_column(Integer)
    #: ``vault:vN:...`` ciphertext of the 256-bit data key.
    wrapped: Mapped[str] = mapped_column(Text)


class ClinicLogo(TenantScoped, Base):
    """The clinic's logo, re-encoded from its pixels (:mod:`tenants.branding`); one per clinic."""

    __tablename__ = "clinic_logos"
    __table_args__ = (
        tenant_fk("clinic_logos"),
        UniqueConstraint("tenant_id", name="uq_clinic_logos_tenant_id"),
    )

    #: image/png or image/jpeg (what the bytes are, decided by decoding them).
    content_type: Mapped[str] = mapped_column(String(32))
    #: The image bytes, base64 (``bytea`` is reserved for sealed values; a logo is public).
    data_b64: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    @property
    def data(self) -> bytes:
        """The image bytes."""
        return base64.b64decode(self.data_b64)


class SupportGrant(TenantScoped, Base):
    """An owner's consent that Similia support may look at the clinic's console information.

    Active while ``revoked_at`` is NULL and ``expires_at`` is after the *database's* clock
    (:mod:`tenants.support_access`); never includes clinical content.
    """

    __tablename__ = "support_grants"
    __table_args__ = (
        tenant_fk("support_grants"),
        ForeignKeyConstraint(
            ["tenant_id", "granted_by"],
            ["users.tenant_id", "users.id"],
            name="support_grants_tenant_id_granted_by_fkey",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "revoked_by"],
            ["users.tenant_id", "users.id"],
            name="support_grants_tenant_id_revoked_by_fkey",
        ),
    )

    granted_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    hours: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
