"""Patients of a clinic. Contact details and date of birth are sealed with the clinic's key.

Decisions: the display name stays in clear (staff search it and schedules show it); email is
stored sealed plus a keyed blind index (HMAC) for exact lookup; a patient may exist without
a portal login (created by staff) until they register with the same email.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKeyConstraint,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, tenant_fk


class Patient(TenantScoped, Base):
    """A patient of one clinic."""

    __tablename__ = "patients"
    __table_args__ = (
        tenant_fk("patients"),
        UniqueConstraint("tenant_id", "email_index", name="uq_patients_tenant_email_index"),
    )

    full_name: Mapped[str] = mapped_column(String(160))
    #: HMAC-SHA256 of the normalised email under the clinic's blind-index key.
    email_index: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[bytes | None] = mapped_column("email_enc", LargeBinary, info={"sealed": True})
    phone: Mapped[bytes | None] = mapped_column("phone_enc", LargeBinary, info={"sealed": True})
    date_of_birth: Mapped[bytes | None] = mapped_column(
        "date_of_birth_enc", LargeBinary, info={"sealed": True}
    )
    address: Mapped[bytes | None] = mapped_column("address_enc", LargeBinary, info={"sealed": True})
    emergency_contact: Mapped[bytes | None] = mapped_column(
        "emergency_contact_enc", LargeBinary, info={"sealed": True}
    )
    preferred_language: Mapped[str | None] = mapped_column(String(16))
    communication_prefs: Mapped[dict] = mapped_column(JSONB, default=dict)
    #: Portal password (Argon2id); None until the patient registers.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: active, or erased (personal data destroyed on request).
    status: Mapped[str] = mapped_column(String(16), default="active")
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the patient's personal and clinical data were erased (row kept, anonymised).
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Staff member who created the record (None for portal self-registration).
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Legal hold (placed by an owner): the patient cannot be erased while it is set.
    legal_hold_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    legal_hold_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    legal_hold_reason: Mapped[bytes | None] = mapped_column(
        "legal_hold_reason_enc", LargeBinary, info={"sealed": True}
    )
    #: An erasure within the retention period keeps the clinical records until this date.
    records_kept_until: Mapped[dt.date | None] = mapped_column(Date)
    #: Optional two-step sign-in: the TOTP secret, sealed with the clinic's data key. Set
    #: while the patient sets it up; in force only once ``totp_enabled_at`` is set.
    totp_secret: Mapped[bytes | None] = mapped_column(
        "totp_secret_enc", LargeBinary, info={"sealed": True}
    )
    #: When the patient confirmed the authenticator with a first code (None: two-step is off).
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Last accepted TOTP time step; a code is accepted only for a later step (no replay).
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)


#: Sealed attributes of :class:`Patient` (written and read by ``saas.patients.set_sealed``
#: and ``read_sealed``), as the model declares them.
SEALED_PATIENT_FIELDS = tuple(
    key for key, column in Patient.__mapper__.columns.items() if column.info.get("sealed")
)


class PatientToken(TenantScoped, Base):
    """A patient's portal bearer token (``simp_...``); only its SHA-256 is stored."""

    __tablename__ = "patient_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "token_hash", name="uq_patient_tokens_tenant_hash"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: "session" (portal sign-in) or "verify" (email verification link).
    purpose: Mapped[str] = mapped_column(String(16), default="session")
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PatientRecoveryCode(TenantScoped, Base):
    """A single-use recovery code for a patient's two-step sign-in; only its SHA-256 is stored."""

    __tablename__ = "patient_recovery_codes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], ondelete="CASCADE"
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
