"""The shared domain model. Feature models import ``Base`` from here."""

from .audit import AuditEntry, OutboxMessage
from .base import Base, TenantScoped, utcnow
from .patient import SEALED_PATIENT_FIELDS, Patient, PatientRecoveryCode, PatientToken
from .tenant import ClinicLogo, Tenant, TenantDataKey
from .user import ROLES, ApiToken, Invitation, PasswordReset, RecoveryCode, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEntry",
    "ClinicLogo",
    "Base",
    "Invitation",
    "OutboxMessage",
    "PasswordReset",
    "Patient",
    "PatientRecoveryCode",
    "PatientToken",
    "SEALED_PATIENT_FIELDS",
    "RecoveryCode",
    "Tenant",
    "TenantDataKey",
    "TenantScoped",
    "User",
    "utcnow",
]
