"""Consents: per purpose and text version, with channel and withdrawal; never deleted.

Decisions: a purpose has at most one standing consent (a unique partial index); agreeing to
a new text version closes the standing row at that moment and opens a new one, so the
history shows exactly which wording was in force when. Withdrawal is recorded, not deleted.
Reminders and marketing ask :func:`has_consent` (a small public function other features,
e.g. scheduling's reminders, call) before sending.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Conflict, Invalid
from saas.models import Patient, Tenant, User, utcnow

from .models import Consent
from .policy import require_active

PURPOSES = ("treatment", "reminders_email", "reminders_sms", "marketing_email", "marketing_sms")
CHANNELS = ("portal", "in_person", "paper", "email", "phone")


def standing_consent(sess: Session, tenant_id, patient_id, purpose: str) -> Consent | None:
    """The consent currently in force for ``purpose``, if any."""
    return sess.scalar(
        select(Consent).where(
            Consent.tenant_id == tenant_id,
            Consent.patient_id == patient_id,
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
        )
    )


def has_consent(sess: Session, tenant_id, patient_id, purpose: str) -> bool:
    """True when the patient has a standing consent for ``purpose`` (e.g. reminders_sms)."""
    if purpose not in PURPOSES:
        raise KeyError(purpose)
    return standing_consent(sess, tenant_id, patient_id, purpose) is not None


def list_consents(sess: Session, tenant: Tenant, patient: Patient) -> list[Consent]:
    """Every consent of a patient, newest first."""
    return list(
        sess.scalars(
            select(Consent)
            .where(Consent.tenant_id == tenant.id, Consent.patient_id == patient.id)
            .order_by(Consent.granted_at.desc(), Consent.created_at.desc())
        )
    )


def record_consent(
    sess: Session,
    tenant: Tenant,
    patient: Patient,
    *,
    purpose: str,
    text_version: str,
    channel: str,
    actor,
) -> Consent:
    """Record a consent; ``actor`` is the staff member, or the patient on the portal."""
    require_active(patient)
    if purpose not in PURPOSES:
        raise Invalid({"purpose": "Unknown purpose."})
    if channel not in CHANNELS:
        raise Invalid({"channel": "Unknown channel."})
    now = utcnow()
    current = standing_consent(sess, tenant.id, patient.id, purpose)
    if current is not None:
        if current.text_version == text_version:
            raise Conflict({"purpose": "This consent is already given."})
        current.withdrawn_at, current.withdrawn_channel = now, channel
        current.withdrawn_recorded_by = actor.id if isinstance(actor, User) else None
        sess.flush()
    consent = Consent(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        purpose=purpose,
        text_version=text_version,
        channel=channel,
        granted_at=now,
        recorded_by=actor.id if isinstance(actor, User) else None,
        created_at=now,
    )
    sess.add(consent)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "consent.granted",
        actor=actor,
        target=f"patient:{patient.id}",
        data={
            "consent_id": str(consent.id),
            "purpose": purpose,
            # the version label is free text: it stays on the consent row (erased with it)
            "channel": channel,
            "replaces": str(current.id) if current else None,
        },
    )
    return consent


def withdraw_consent(
    sess: Session, tenant: Tenant, consent: Consent, *, channel: str, actor
) -> Consent:
    """Record a withdrawal (``actor``: staff, or the patient); reminders/marketing stop."""
    if consent.withdrawn_at is not None:
        raise Conflict({"consent": "This consent was already withdrawn."})
    if channel not in CHANNELS:
        raise Invalid({"channel": "Unknown channel."})
    consent.withdrawn_at, consent.withdrawn_channel = utcnow(), channel
    consent.withdrawn_recorded_by = actor.id if isinstance(actor, User) else None
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "consent.withdrawn",
        actor=actor,
        target=f"patient:{consent.patient_id}",
        data={"consent_id": str(consent.id), "purpose": consent.purpose, "channel": channel},
    )
    return consent
