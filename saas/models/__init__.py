"""The shared domain model. Feature models import ``Base`` from here."""

from .audit import AuditEntry, OutboxMessage
from .base import Base, TenantScoped, utcnow
from .tenant import Tenant, TenantDataKey
from .user import ROLES, ApiToken, Invitation, PasswordReset, RecoveryCode, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Invitation",
    "OutboxMessage",
    "PasswordReset",
    "RecoveryCode",
    "Tenant",
    "TenantDataKey",
    "TenantScoped",
    "User",
    "utcnow",
]
