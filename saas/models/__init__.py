"""The shared domain model. Feature models import ``Base`` from here."""

from .audit import AuditEntry, OutboxMessage, SmsUsage
from .base import Base, TenantScoped, utcnow
from .operator import OPERATOR_ROLES, ClinicUsage, Operator, PlatformAuditEntry
from .patient import SEALED_PATIENT_FIELDS, Patient, PatientRecoveryCode, PatientToken
from .tenant import ClinicLogo, SupportGrant, Tenant, TenantDataKey
from .user import ROLES, ApiToken, Invitation, PasswordReset, RecoveryCode, User

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEntry",
    "ClinicLogo",
    "ClinicUsage",
    "Base",
    "Invitation",
    "OPERATOR_ROLES",
    "Operator",
    "OutboxMessage",
    "SmsUsage",
    "PasswordReset",
    "Patient",
    "PatientRecoveryCode",
    "PatientToken",
    "PlatformAuditEntry",
    "SEALED_PATIENT_FIELDS",
    "SupportGrant",
    "RecoveryCode",
    "Tenant",
    "TenantDataKey",
    "TenantScoped",
    "User",
    "utcnow",
]
