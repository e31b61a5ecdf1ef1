"""Who may see clinical content: enforced in the service layer, not only at the view.

Decisions:

- practitioners always read and write clinical records; receptionists never (they keep
  demographics, consents and appointments; the API omits clinical fields for them and every
  clinical service verb refuses them even if a view forgot its decorator);
- owners and admins are configurable per clinic (the settings registry's ``records``
  section, key ``clinical_access``; each ``"none"``, ``"read"`` or ``"write"``). Defaults: owner
  ``write`` (usually a practising homeopath), admin ``none`` (practice managers need no
  case notes: minimum necessary access);
- the RBAC table (``saas.security.rbac``) still gates the route coarsely; this module is
  the fine-grained, per-clinic rule;
- an erased patient's record takes no new entries (:func:`require_active`): every verb that
  writes to a patient's record asks it, so erasure cannot be undone by a late write.
"""

from __future__ import annotations

from saas import settings
from saas.exceptions import Conflict, Forbidden
from saas.models import Patient, Tenant

from .settings import RECORDS

LEVELS = ("none", "read", "write")
FIXED = {"practitioner": "write", "receptionist": "none"}
DEFAULT_CONFIGURABLE = {"owner": "write", "admin": "none"}


def records_settings(tenant: Tenant) -> dict:
    """The clinic's records settings with defaults filled in (the registry's ``records``)."""
    values = settings.read(tenant, RECORDS.name)
    values["clinical_access"] = {**DEFAULT_CONFIGURABLE, **(values["clinical_access"] or {})}
    return values


def clinical_level(tenant: Tenant, role: str | None) -> str:
    """``none``, ``read`` or ``write`` for a staff role in this clinic."""
    if role in FIXED:
        return FIXED[role]
    return records_settings(tenant)["clinical_access"].get(role or "", "none")


def can_read_clinical(tenant: Tenant, actor) -> bool:
    """True when ``actor`` (a staff user) may read clinical content in this clinic."""
    return actor is not None and clinical_level(tenant, getattr(actor, "role", None)) != "none"


def require_clinical(tenant: Tenant, actor, *, write: bool = False) -> None:
    """Raise :class:`~saas.exceptions.Forbidden` unless ``actor`` may read (or write)."""
    level = clinical_level(tenant, getattr(actor, "role", None)) if actor is not None else "none"
    if level == "none" or (write and level != "write"):
        what = "change" if write else "see"
        raise Forbidden({"role": f"Your role may not {what} clinical records."})


def require_active(patient: Patient) -> None:
    """Raise :class:`~saas.exceptions.Conflict` when the patient's record was erased."""
    if patient.status != "active":
        raise Conflict({"patient": "This patient's record was erased."})
