"""The permission table: which role holds which permission (pure data, no web imports).

Decisions: owners can do everything; admins everything but ownership transfer and billing;
practitioners run their schedule and keep clinical records; receptionists handle patients'
demographics and appointments and never see clinical content.

Workers and services check permissions here; the request decorators live in
:mod:`saas.security.rbac`.
"""

from __future__ import annotations

ALL = frozenset(
    {
        "console.view",
        "staff.view",
        "staff.invite",
        "staff.manage",
        "staff.manage_owners",
        "audit.view",
        "reports.view",
        "settings.manage",
        "billing.manage",
        "payments.refund",
        "support.grant",
        "clinic.close",
        "clinic.export",
        "practice.manage",
        "schedule.view",
        "appointments.manage",
        "patients.view",
        "patients.manage",
        "clinical.read",
        "clinical.write",
        "records.export",
        "patients.erase",
        "patients.legal_hold",
    }
)

# records.export / patients.erase (GDPR requests) are owner/admin duties; reading clinical
# content on top of the coarse clinical.* permissions is decided per clinic by
# saas.records.policy (admins have no clinical access unless the owner grants it). A legal
# hold (which stops erasure) is placed and released by owners only, and only owners let
# Similia support look at the clinic (support.grant), close it (clinic.close) or export all of
# it at once (clinic.export: every clinical record in one file).
PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": ALL,
    "admin": ALL
    - {
        "billing.manage",
        "staff.manage_owners",
        "patients.legal_hold",
        "support.grant",
        "clinic.close",
        "clinic.export",
    },
    "practitioner": frozenset(
        {
            "console.view",
            "staff.view",
            "schedule.view",
            "appointments.manage",
            "patients.view",
            "patients.manage",
            "clinical.read",
            "clinical.write",
        }
    ),
    "receptionist": frozenset(
        {
            "console.view",
            "staff.view",
            "schedule.view",
            "appointments.manage",
            "patients.view",
            "patients.manage",
        }
    ),
}


def can(role: str | None, permission: str) -> bool:
    """True when ``role`` holds ``permission``."""
    if permission not in ALL:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in PERMISSIONS.get(role or "", frozenset())
