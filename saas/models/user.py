"""Staff accounts and their credentials (per clinic)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, tenant_fk

ROLES = ("owner", "admin", "practitioner", "receptionist")


class User(TenantScoped, Base):
    """A staff member of one clinic. Email is unique within the clinic."""

    __tablename__ = "users"
    __table_args__ = (
        tenant_fk("users"),
        UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
    )

    email: Mapped[str] = mapped_column(String(254))  #: stored lower-case
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: TOTP secret sealed with the clinic's data key.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, info={"sealed": True})
    mfa_enrolled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Last accepted TOTP time step; a code is accepted only for a later step (no replay).
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped on password change and sign-out-everywhere; sessions carry it.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    # flask-login protocol
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        """Session identity: user id and epoch, so a password change ends old sessions."""
        return f"{self.id}:{self.session_epoch}"


def _user_fk():
    return ForeignKeyConstraint(
        ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
    )


class RecoveryCode(TenantScoped, Base):
    """A single-use MFA recovery code, stored hashed."""

    __tablename__ = "recovery_codes"
    __table_args__ = (_user_fk(),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(TenantScoped, Base):
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        _user_fk(),
        UniqueConstraint("tenant_id", "token_hash", name="uq_api_tokens_tenant_hash"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordReset(TenantScoped, Base):
    """A single-use, expiring password-reset link (token stored hashed)."""

    __tablename__ = "password_resets"
    __table_args__ = (
        _user_fk(),
        UniqueConstraint("tenant_id", "token_hash", name="uq_password_resets_tenant_hash"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Invitation(TenantScoped, Base):
    """An emailed invitation to join the clinic's staff with a role."""

    __tablename__ = "invitations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invited_by"], ["users.tenant_id", "users.id"]),
        UniqueConstraint("tenant_id", "token_hash", name="uq_invitations_tenant_hash"),
    )

    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    invited_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
