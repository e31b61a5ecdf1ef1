"""Retention of clinical records and the legal hold.

Decisions:

- **Retention** is the records section's ``retention_years``: how many years the clinic keeps
  clinical records after a patient's last visit. Unset (None) means no period is configured:
  an erasure destroys everything and the daily job erases nobody. It is never filled in
  silently from the country: switching a clinic to automatic erasure is an owner's decision
  made on the settings page, which proposes :data:`COUNTRY_DEFAULTS` for the clinic's country
  (a common legal minimum, with its source; the clinic checks the rules of its profession).
- **Erasure within the period** (:func:`records_kept_until` is a date in the future): the
  clinic must keep the clinical record, so erasure removes the account, contact details,
  consents, exports and messages, and keeps the visits, case notes, prescriptions,
  allergies/medication and attachments together with the name and date of birth that tie
  them to a person, until that date. The patient is ``erased`` everywhere in the product;
  the daily job erases the kept records once the date has passed
  (:func:`saas.records.gdpr.apply_retention`).
- **Legal hold**: an owner (``patients.legal_hold``) flags a patient with a reason (sealed;
  the audit entry says only that a reason was given). While the hold stands, nobody erases
  the patient: not by hand (API and page refuse with the same message) and not the
  retention job (held patients are skipped, kept records stay past their date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Conflict, Forbidden, Invalid
from saas.models import Patient, Tenant, User, utcnow
from saas.patients import read_sealed, set_sealed
from saas.security.permissions import can

from .models import ClinicalVisit
from .policy import records_settings

HOLD_REASON_MAX = 500


@dataclass(frozen=True)
class CountryRetention:
    """A common minimum retention for clinical records in one country."""

    years: int
    source: str


#: Proposed on the settings page for the clinic's country; never applied without an owner.
COUNTRY_DEFAULTS: dict[str, CountryRetention] = {
    "AT": CountryRetention(10, "Austria: 10 years after the treatment (Ärztegesetz § 51)"),
    "DE": CountryRetention(10, "Germany: 10 years after the end of treatment (BGB § 630f)"),
    "FR": CountryRetention(20, "France: 20 years after the last visit (CSP art. R1112-7)"),
    "GB": CountryRetention(
        8, "United Kingdom: 8 years after the last treatment of an adult (NHS Records Code)"
    ),
    "IN": CountryRetention(3, "India: 3 years after the treatment (IMC Regulations 1.3.1)"),
    "NL": CountryRetention(20, "Netherlands: 20 years after the last treatment (WGBO)"),
}


def country_default(tenant: Tenant) -> CountryRetention | None:
    """The proposed retention for the clinic's country, when we know one."""
    return COUNTRY_DEFAULTS.get((tenant.country or "").upper())


def retention_years(tenant: Tenant) -> int | None:
    """The clinic's configured retention in years (None: not configured)."""
    return records_settings(tenant)["retention_years"]


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole years (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def last_visit_date(sess: Session, tenant: Tenant, patient: Patient) -> dt.date | None:
    """The date of the patient's latest clinical visit."""
    return sess.scalar(
        select(func.max(ClinicalVisit.visit_date)).where(
            ClinicalVisit.tenant_id == tenant.id, ClinicalVisit.patient_id == patient.id
        )
    )


def records_kept_until(
    sess: Session, tenant: Tenant, patient: Patient, *, today: dt.date | None = None
) -> dt.date | None:
    """Until when an erasure today must keep the clinical records (None: nothing to keep)."""
    years = retention_years(tenant)
    last = last_visit_date(sess, tenant, patient)
    if not years or last is None:
        return None
    until = add_years(last, years)
    return until if until > (today or utcnow().date()) else None


# -- legal hold ------------------------------------------------------------------------------------
def refuse_if_held(patient: Patient) -> None:
    """Raise :class:`Conflict` when the patient is under a legal hold."""
    if patient.legal_hold_at is not None:
        message = (
            f"This patient is under a legal hold since {patient.legal_hold_at:%d %B %Y}: "
            "their records cannot be erased until an owner releases the hold."
        )
        raise Conflict(message, errors={"patient": message}, reason="legal_hold")


def _require_owner(actor: User) -> None:
    if not can(actor.role, "patients.legal_hold"):
        raise Forbidden("Only an owner can place or release a legal hold.")


def place_legal_hold(
    sess: Session, tenant: Tenant, actor: User, patient: Patient, *, reason: str
) -> Patient:
    """Flag the patient under legal hold (owner only, reason required and sealed, audited).

    Also possible for an erased patient whose clinical record is still kept (a claim that
    arrives after the erasure): the record then outlives its date until the hold is released.
    """
    _require_owner(actor)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Give the reason for the legal hold.", errors={"reason": "Enter the reason."})
    if len(reason) > HOLD_REASON_MAX:
        raise Invalid(
            "The reason is too long.",
            errors={"reason": f"Use at most {HOLD_REASON_MAX} characters."},
        )
    if patient.status != "active" and patient.records_kept_until is None:
        raise Conflict({"patient": "Nothing of this erased patient is left to hold."})
    if patient.legal_hold_at is not None:
        raise Conflict({"patient": "This patient is already under a legal hold."})
    patient.legal_hold_at = utcnow()
    patient.legal_hold_by = actor.id
    set_sealed(sess, tenant, patient, "legal_hold_reason", reason)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "patient.legal_hold_placed",
        actor=actor,
        target=f"patient:{patient.id}",
        data={"reason_given": True},
    )
    return patient


def release_legal_hold(sess: Session, tenant: Tenant, actor: User, patient: Patient) -> Patient:
    """Lift the legal hold (owner only, audited); erasure is possible again."""
    _require_owner(actor)
    if patient.legal_hold_at is None:
        raise Conflict({"patient": "This patient is not under a legal hold."})
    patient.legal_hold_at = patient.legal_hold_by = patient.legal_hold_reason = None
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "patient.legal_hold_released",
        actor=actor,
        target=f"patient:{patient.id}",
    )
    return patient


def legal_hold(sess: Session, tenant: Tenant, patient: Patient) -> dict | None:
    """The hold as staff see it: since when, by whom, why (None when there is none)."""
    if patient.legal_hold_at is None:
        return None
    by = sess.get(User, (tenant.id, patient.legal_hold_by)) if patient.legal_hold_by else None
    return {
        "since": patient.legal_hold_at,
        "by": by.name if by else None,
        "reason": read_sealed(sess, patient, "legal_hold_reason"),
    }
