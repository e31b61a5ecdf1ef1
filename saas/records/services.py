"""The records verbs.

Demographics, visits and versioned case notes, signing, prescriptions, allergies and medication.
Each verb checks the actor, writes its rows, an audit entry (and an outbox message where someone
must be told) in the caller's transaction, and flushes.

Decisions:

- a visit's notes are versions: every edit adds a ``case_notes`` row (version n+1); before
  signing the reason is optional, after signing an edit is an *amendment* and needs one.
  Nothing is overwritten; earlier versions stay readable to clinical roles;
- a visit may name the appointment it records: one of this patient's appointments at this
  clinic (refused by name otherwise, before the foreign key would fail);
- only the visit's practitioner (or an owner with clinical write access) signs a visit;
- a prescription written after signing is an amendment (reason required); a wrong one is
  *voided* with a reason and re-issued, never edited or deleted;
- the follow-up window is stored as dates (visit date + N..M days) so the recall list is a
  plain indexed query; its ``follow_up_service_id`` must be one of the clinic's active visit
  types (refused by name otherwise: the foreign key would only say "500");
- audit entries name the patient and record ids, never clinical or contact values.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Conflict, Forbidden, Invalid
from saas.models import Patient, Tenant, User, utcnow
from saas.patients import (
    create_patient,
    get_patient_by_email_in_tenant,
    normalise_email,
    set_sealed,
)
from saas.scheduling.models import Appointment, VisitType

from .followups import clinic_today
from .models import CaseNote, ClinicalFact, ClinicalVisit, Prescription
from .policy import require_active, require_clinical
from .queries import PRESCRIPTION_FIELDS
from .sealing import seal_json, seal_text

#: Case-note sections (free text unless noted). ``presenting_complaints`` is a list of
#: complaints (location, sensation, onset, duration, modalities); ``follow_up`` records the
#: response at a follow-up (better / worse / no change / mixed, aggravation, new symptoms).
SECTIONS = (
    "presenting_complaints",
    "modalities",
    "mentals",
    "generals",
    "past_history",
    "family_history",
    "observations",
    "analysis",
    "follow_up",
    "outcome",
    "plan",
)
SEALED_DEMOGRAPHICS = ("phone", "date_of_birth", "address", "emergency_contact")
CLEAR_DEMOGRAPHICS = ("preferred_language", "communication_prefs")


def _target(patient_id) -> str:
    return f"patient:{patient_id}"


def _sealed_text(field: str, value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip() or None


# -- demographics (receptionists too) --------------------------------------------------------------
def create_patient_by_staff(sess: Session, tenant: Tenant, actor: User, data: dict) -> Patient:
    """Create a patient from the console (no portal login until they register)."""
    sealed = {
        f: _sealed_text(f, data.get(f)) for f in SEALED_DEMOGRAPHICS if data.get(f) is not None
    }
    patient = create_patient(
        sess,
        tenant,
        full_name=data.get("full_name", ""),
        email=data.get("email"),
        actor=actor,
        **sealed,
    )
    patient.created_by = actor.id
    patient.preferred_language = data.get("preferred_language")
    patient.communication_prefs = data.get("communication_prefs") or {}
    return patient


def update_demographics(
    sess: Session, tenant: Tenant, patient: Patient, changes: dict, *, actor
) -> list[str]:
    """Change contact details; ``actor`` is a staff user, or the patient themself (portal).

    Returns the changed field names (audited, never their values). A staff change of email
    keeps the portal login working with the new address (staff saw the patient); the
    portal's own profile update cannot change the email (it is the sign-in identity).
    """
    require_active(patient)
    changed = []
    for field, value in changes.items():
        if field == "full_name":
            if not (value or "").strip():
                raise Invalid({"full_name": "Enter the patient's name."})
            patient.full_name = value.strip()
        elif field == "email":
            if value:
                value = normalise_email(value)
                other = get_patient_by_email_in_tenant(sess, tenant, value)
                if other is not None and other.id != patient.id:
                    raise Conflict({"email": "A patient with this email already exists."})
            elif patient.password_hash is not None:
                raise Invalid({"email": "A patient with a portal login needs an email."})
            set_sealed(sess, tenant, patient, "email", value or None)
        elif field in SEALED_DEMOGRAPHICS:
            set_sealed(sess, tenant, patient, field, _sealed_text(field, value))
        elif field in CLEAR_DEMOGRAPHICS:
            setattr(
                patient, field, value if value is not None or field != "communication_prefs" else {}
            )
        else:
            raise Invalid({field: "Unknown field."})
        changed.append(field)
    patient.updated_at = utcnow()
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "patient.updated",
        actor=actor,
        target=_target(patient.id),
        data={"fields": sorted(changed)},
    )
    return changed


# -- visits and case notes -------------------------------------------------------------------------
def _practitioner(sess: Session, tenant: Tenant, user_id) -> User:
    user = sess.scalar(select(User).where(User.tenant_id == tenant.id, User.id == user_id))
    if user is None or not user.is_active:
        raise Invalid({"practitioner_id": "No such practitioner at this clinic."})
    return user


def _latest_version(sess: Session, visit: ClinicalVisit) -> int:
    return sess.scalar(
        select(func.coalesce(func.max(CaseNote.version), 0)).where(
            CaseNote.tenant_id == visit.tenant_id, CaseNote.visit_id == visit.id
        )
    )


def _add_version(
    sess: Session, tenant: Tenant, actor: User, visit: ClinicalVisit, sections: dict, reason
) -> CaseNote:
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise Invalid({k: "Unknown section." for k in sorted(unknown)})
    note_id = uuid.uuid4()
    note = CaseNote(
        id=note_id,
        tenant_id=tenant.id,
        visit_id=visit.id,
        version=_latest_version(sess, visit) + 1,
        is_amendment=visit.status == "signed",
        body=seal_json(sess, tenant, "case_notes", "body", note_id, sections),
        reason=seal_text(sess, tenant, "case_notes", "reason", note_id, reason),
        author_id=actor.id,
        created_at=utcnow(),
    )
    sess.add(note)
    sess.flush()
    return note


def record_visit_note(
    sess: Session,
    tenant: Tenant,
    actor: User,
    patient: Patient,
    *,
    kind: str,
    visit_date: dt.date | None = None,
    sections: dict | None = None,
    practitioner_id=None,
    appointment_id=None,
) -> ClinicalVisit:
    """Open a visit's clinical record, with its first note version when ``sections`` given.

    ``visit_date`` defaults to today in the clinic's zone.
    """
    require_clinical(tenant, actor, write=True)
    require_active(patient)
    practitioner = _practitioner(sess, tenant, practitioner_id or actor.id)
    if appointment_id is not None and not sess.scalar(
        select(Appointment.id).where(
            Appointment.tenant_id == tenant.id,
            Appointment.id == appointment_id,
            Appointment.patient_id == patient.id,
        )
    ):
        raise Invalid({"appointment_id": "No such appointment of this patient."})
    visit = ClinicalVisit(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        practitioner_id=practitioner.id,
        appointment_id=appointment_id,
        kind=kind,
        visit_date=visit_date or clinic_today(tenant),
        status="open",
        shared_with_patient=False,
        created_by=actor.id,
        created_at=utcnow(),
    )
    sess.add(visit)
    sess.flush()
    version = None
    if sections:
        version = _add_version(sess, tenant, actor, visit, sections, None).version
    audit.record(
        sess,
        tenant.id,
        "clinical.visit_created",
        actor=actor,
        target=_target(patient.id),
        data={"visit_id": str(visit.id), "kind": kind, "version": version},
    )
    return visit


def _lock_visit(sess: Session, visit: ClinicalVisit) -> None:
    """Serialise note versions and signing of one visit (row lock)."""
    sess.execute(
        select(ClinicalVisit.id)
        .where(ClinicalVisit.tenant_id == visit.tenant_id, ClinicalVisit.id == visit.id)
        .with_for_update()
    )
    sess.refresh(visit)


def amend_note(
    sess: Session,
    tenant: Tenant,
    actor: User,
    visit: ClinicalVisit,
    sections: dict,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> CaseNote:
    """Write a new version of the visit's notes (an amendment with a reason once signed)."""
    require_clinical(tenant, actor, write=True)
    _lock_visit(sess, visit)
    current = _latest_version(sess, visit)
    if expected_version is not None and expected_version != current:
        raise Conflict(
            {"expected_version": f"The notes changed meanwhile (now version {current}). Reload."}
        )
    reason = (reason or "").strip() or None
    if visit.status == "signed" and reason is None:
        raise Invalid({"reason": "A signed record can only be amended with a reason."})
    note = _add_version(sess, tenant, actor, visit, sections, reason)
    audit.record(
        sess,
        tenant.id,
        "clinical.note_amended" if note.is_amendment else "clinical.note_revised",
        actor=actor,
        target=_target(visit.patient_id),
        data={"visit_id": str(visit.id), "version": note.version},
    )
    return note


def sign_visit(sess: Session, tenant: Tenant, actor: User, visit: ClinicalVisit) -> ClinicalVisit:
    """Lock the visit's record: later changes are amendments."""
    require_clinical(tenant, actor, write=True)
    _lock_visit(sess, visit)
    if visit.status == "signed":
        raise Conflict({"status": "This visit is already signed."})
    if actor.id != visit.practitioner_id and actor.role != "owner":
        raise Forbidden({"role": "Only the visit's practitioner can sign it."})
    version = _latest_version(sess, visit)
    if version == 0:
        raise Invalid({"note": "Write the case notes before signing."})
    visit.status, visit.signed_at, visit.signed_by = "signed", utcnow(), actor.id
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.visit_signed",
        actor=actor,
        target=_target(visit.patient_id),
        data={"visit_id": str(visit.id), "version": version},
    )
    return visit


def share_visit(
    sess: Session,
    tenant: Tenant,
    actor: User,
    visit: ClinicalVisit,
    *,
    shared: bool,
    summary: str | None = None,
) -> ClinicalVisit:
    """Choose whether the patient sees this visit's summary on the portal (signed visits)."""
    require_clinical(tenant, actor, write=True)
    if shared and visit.status != "signed":
        raise Conflict({"shared_with_patient": "Sign the visit before sharing it."})
    if summary is not None:
        visit.patient_summary = seal_text(
            sess, tenant, "clinical_visits", "patient_summary", visit.id, summary.strip() or None
        )
    if shared and visit.patient_summary is None:
        raise Invalid({"patient_summary": "Write a summary for the patient first."})
    visit.shared_with_patient = shared
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.visit_shared" if shared else "clinical.visit_unshared",
        actor=actor,
        target=_target(visit.patient_id),
        data={"visit_id": str(visit.id)},
    )
    return visit


# -- prescriptions ---------------------------------------------------------------------------------


def _follow_up_visit_type(sess: Session, tenant: Tenant, visit_type_id):
    """The follow-up visit type id if it is one of this clinic's active ones (or None)."""
    if visit_type_id is None:
        return None
    active = sess.scalar(
        select(VisitType.is_active).where(
            VisitType.tenant_id == tenant.id, VisitType.id == visit_type_id
        )
    )
    if active is None:
        raise Invalid({"follow_up_service_id": "No such visit type at this clinic."})
    if not active:
        raise Invalid({"follow_up_service_id": "This visit type is no longer offered."})
    return visit_type_id


def add_prescription(
    sess: Session, tenant: Tenant, actor: User, visit: ClinicalVisit, data: dict
) -> Prescription:
    """Prescribe a remedy at a visit, with an optional follow-up window in days."""
    require_clinical(tenant, actor, write=True)
    patient = sess.get(Patient, (tenant.id, visit.patient_id))
    require_active(patient)
    reason = (data.get("amendment_reason") or "").strip() or None
    if visit.status == "signed" and reason is None:
        raise Invalid(
            {"amendment_reason": "The visit is signed: a new prescription is an amendment."}
        )
    lo, hi = data.get("follow_up_from_days"), data.get("follow_up_to_days")
    if (lo is None) != (hi is None):
        raise Invalid({"follow_up_to_days": "Give both ends of the follow-up window."})
    if lo is not None and hi < lo:
        raise Invalid({"follow_up_to_days": "The window must end after it starts."})
    follow_up_service_id = _follow_up_visit_type(sess, tenant, data.get("follow_up_service_id"))
    rx_id = uuid.uuid4()
    details = {
        k: data[k].isoformat() if isinstance(data[k], dt.date) else data[k]
        for k in PRESCRIPTION_FIELDS
        if data.get(k) not in (None, "")
    }
    rx = Prescription(
        id=rx_id,
        tenant_id=tenant.id,
        visit_id=visit.id,
        patient_id=visit.patient_id,
        practitioner_id=visit.practitioner_id,
        details=seal_json(sess, tenant, "prescriptions", "details", rx_id, details),
        follow_up_from=visit.visit_date + dt.timedelta(days=lo) if lo is not None else None,
        follow_up_to=visit.visit_date + dt.timedelta(days=hi) if hi is not None else None,
        follow_up_service_id=follow_up_service_id,
        shared_with_patient=bool(data.get("shared_with_patient")),
        is_amendment=reason is not None and visit.status == "signed",
        amendment_reason=seal_text(
            sess, tenant, "prescriptions", "amendment_reason", rx_id, reason
        ),
        created_by=actor.id,
        created_at=utcnow(),
    )
    sess.add(rx)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.prescription_added",
        actor=actor,
        target=_target(visit.patient_id),
        data={
            "visit_id": str(visit.id),
            "prescription_id": str(rx.id),
            "amendment": rx.is_amendment,
        },
    )
    return rx


def void_prescription(
    sess: Session, tenant: Tenant, actor: User, rx: Prescription, reason: str
) -> Prescription:
    """Mark a prescription void (kept, with the reason); it leaves the recall list."""
    require_clinical(tenant, actor, write=True)
    if rx.voided_at is not None:
        raise Conflict({"status": "This prescription is already void."})
    if not (reason or "").strip():
        raise Invalid({"reason": "Say why the prescription is void."})
    rx.voided_at, rx.voided_by = utcnow(), actor.id
    rx.void_reason = seal_text(sess, tenant, "prescriptions", "void_reason", rx.id, reason.strip())
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.prescription_voided",
        actor=actor,
        target=_target(rx.patient_id),
        data={"prescription_id": str(rx.id)},
    )
    return rx


def share_prescription(
    sess: Session, tenant: Tenant, actor: User, rx: Prescription, *, shared: bool
) -> Prescription:
    """Choose whether the patient sees this prescription on the portal."""
    require_clinical(tenant, actor, write=True)
    rx.shared_with_patient = shared
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.prescription_shared" if shared else "clinical.prescription_unshared",
        actor=actor,
        target=_target(rx.patient_id),
        data={"prescription_id": str(rx.id)},
    )
    return rx


# -- allergies and current medication --------------------------------------------------------------
def record_fact(
    sess: Session, tenant: Tenant, actor: User, patient: Patient, *, kind: str, details: dict
) -> ClinicalFact:
    """Record an allergy or a current medication."""
    require_clinical(tenant, actor, write=True)
    require_active(patient)
    fact_id = uuid.uuid4()
    fact = ClinicalFact(
        id=fact_id,
        tenant_id=tenant.id,
        patient_id=patient.id,
        kind=kind,
        details=seal_json(sess, tenant, "clinical_facts", "details", fact_id, details),
        recorded_by=actor.id,
        created_at=utcnow(),
    )
    sess.add(fact)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.fact_recorded",
        actor=actor,
        target=_target(patient.id),
        data={"fact_id": str(fact.id), "kind": kind},
    )
    return fact


def end_fact(
    sess: Session, tenant: Tenant, actor: User, fact: ClinicalFact, reason: str
) -> ClinicalFact:
    """Mark an allergy resolved or a medication stopped (kept in the history)."""
    require_clinical(tenant, actor, write=True)
    if fact.ended_at is not None:
        raise Conflict({"status": "Already ended."})
    if not (reason or "").strip():
        raise Invalid({"reason": "Say why (e.g. medication stopped)."})
    fact.ended_at, fact.ended_by = utcnow(), actor.id
    fact.end_reason = seal_text(
        sess, tenant, "clinical_facts", "end_reason", fact.id, reason.strip()
    )
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.fact_ended",
        actor=actor,
        target=_target(fact.patient_id),
        data={"fact_id": str(fact.id)},
    )
    return fact
