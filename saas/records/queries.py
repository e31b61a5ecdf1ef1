"""Read helpers, named for their scope. Clinical readers check the actor and audit the read.

``access_*`` look an object up in the clinic and raise the same
:class:`~saas.exceptions.NotFound` for "missing", "another clinic's" and "of an erased
patient" (no existence oracle). Readers that open
clinical content call :func:`require_clinical` first and write one ``clinical.read`` audit
entry naming the patient and the record ids (who, which patient, which record, when, from
where: the audit row carries the actor, time, client address and request id).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid, NotFound, not_found
from saas.fields import FieldOpener
from saas.models import Patient, Tenant, User
from saas.patients import get_patient_by_email_in_tenant, normalise_email

from .models import Attachment, CaseNote, ClinicalFact, ClinicalVisit, Consent, Prescription
from .policy import require_clinical
from .sealing import open_json, open_text

#: What a prescription's sealed ``details`` hold.
PRESCRIPTION_FIELDS = (
    "remedy",
    "potency",
    "form",
    "dose",
    "frequency",
    "duration",
    "instructions",
    "start_date",  #: ISO date the patient starts taking the remedy (optional)
)
#: What the patient sees of a prescription the clinic shared (no internal fields).
SHARED_PRESCRIPTION_FIELDS = (
    "id",
    "visit_id",
    "practitioner_name",
    *PRESCRIPTION_FIELDS,
    "follow_up_from",
    "follow_up_to",
    "created_at",
)


# -- access ----------------------------------------------------------------------------------------
def access_patient(
    sess: Session, tenant: Tenant, patient_id, *, include_erased: bool = False
) -> Patient:
    """The clinic's active patient (or an erased one too, for the page that says so)."""
    states = ("active", "erased") if include_erased else ("active",)
    patient = sess.scalar(
        select(Patient).where(
            Patient.tenant_id == tenant.id, Patient.id == patient_id, Patient.status.in_(states)
        )
    )
    if patient is None:
        raise not_found("patient")
    return patient


def _access(sess: Session, model, tenant: Tenant, row_id, what: str):
    row = sess.scalar(
        select(model)
        .join(Patient, (Patient.tenant_id == model.tenant_id) & (Patient.id == model.patient_id))
        .where(model.tenant_id == tenant.id, model.id == row_id, Patient.status == "active")
    )
    if row is None:
        raise not_found(what)
    return row


def access_visit(sess: Session, tenant: Tenant, visit_id) -> ClinicalVisit:
    """A visit record of an active patient of this clinic."""
    return _access(sess, ClinicalVisit, tenant, visit_id, "visit")


def access_prescription(sess: Session, tenant: Tenant, rx_id) -> Prescription:
    """A prescription of an active patient of this clinic."""
    return _access(sess, Prescription, tenant, rx_id, "prescription")


def access_fact(sess: Session, tenant: Tenant, fact_id) -> ClinicalFact:
    """An allergy/medication entry of an active patient of this clinic."""
    return _access(sess, ClinicalFact, tenant, fact_id, "entry")


def access_attachment(sess: Session, tenant: Tenant, attachment_id) -> Attachment:
    """An attachment of an active patient of this clinic."""
    return _access(sess, Attachment, tenant, attachment_id, "attachment")


def access_consent(sess: Session, tenant: Tenant, consent_id) -> Consent:
    """A consent record of an active patient of this clinic."""
    return _access(sess, Consent, tenant, consent_id, "consent")


# -- demographics ----------------------------------------------------------------------------------
def demographics(sess: Session, patient: Patient, opener: FieldOpener | None = None) -> dict:
    """A patient's contact details, opened (pass one ``opener`` for a whole page)."""
    opener = opener or FieldOpener(sess, patient.tenant_id)
    pid = patient.id
    dob = opener.open("patients", "date_of_birth", pid, patient.date_of_birth)
    return {
        "id": pid,
        "full_name": patient.full_name,
        "email": opener.open("patients", "email", pid, patient.email),
        "phone": opener.open("patients", "phone", pid, patient.phone),
        "date_of_birth": dt.date.fromisoformat(dob) if dob else None,
        "address": opener.open("patients", "address", pid, patient.address),
        "emergency_contact": opener.open(
            "patients", "emergency_contact", pid, patient.emergency_contact
        ),
        "preferred_language": patient.preferred_language,
        "communication_prefs": patient.communication_prefs or {},
        "has_portal_login": patient.password_hash is not None,
        "email_verified": patient.email_verified_at is not None,
        "status": patient.status,
        "created_at": patient.created_at,
    }


def read_demographics(sess: Session, tenant: Tenant, actor, patient: Patient) -> dict:
    """A patient's contact details for staff (audited as ``patient.read``)."""
    out = demographics(sess, patient)
    audit.record(sess, tenant.id, "patient.read", actor=actor, target=f"patient:{patient.id}")
    return out


def search_patients(
    sess: Session,
    tenant: Tenant,
    *,
    q: str | None = None,
    email: str | None = None,
    where=(),
):
    """A select of the clinic's active patients by name (substring) or exact email.

    ``where``: further conditions on ``Patient`` (the console's list filters).
    """
    stmt = select(Patient).where(Patient.tenant_id == tenant.id, Patient.status == "active", *where)
    if q:
        like = (
            "%"
            + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        stmt = stmt.where(func.lower(Patient.full_name).like(like, escape="\\"))
    if email:
        try:
            normalised = normalise_email(email)
        except Invalid:  # an invalid email simply matches nobody
            return stmt.where(Patient.id.is_(None))
        hit = get_patient_by_email_in_tenant(sess, tenant, normalised)
        stmt = stmt.where(Patient.id == (hit.id if hit else None))
    return stmt.order_by(func.lower(Patient.full_name), Patient.id)


def patients_page(
    sess: Session,
    tenant: Tenant,
    actor,
    *,
    q: str | None = None,
    email: str | None = None,
    offset: int = 0,
    limit: int = 50,
    where=(),
) -> tuple[int, list[dict]]:
    """One page of a patient search, opened, and the total count (the search is audited).

    The audit entry says how many matched and by which criteria, never the search terms
    (a name or an email typed in is personal data).
    """
    stmt = search_patients(sess, tenant, q=q, email=email, where=where)
    total = sess.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(sess.scalars(stmt.offset(offset).limit(limit)))
    opener = FieldOpener(sess, tenant.id)
    audit.record(
        sess,
        tenant.id,
        "patient.searched",
        actor=actor,
        data={"results": len(rows), "by": sorted(k for k, v in (("q", q), ("email", email)) if v)},
    )
    return total, [demographics(sess, p, opener) for p in rows]


# -- clinical readers ------------------------------------------------------------------------------
def audit_read(sess: Session, tenant: Tenant, actor, patient_id, record: str, ids=()) -> None:
    """One ``clinical.read`` entry: who (staff, or the patient) read which record of whom."""
    audit.record(
        sess,
        tenant.id,
        "clinical.read",
        actor=actor,
        target=f"patient:{patient_id}",
        data={"record": record, "ids": [str(i) for i in ids][:100]},
    )


def _names(sess: Session, tenant: Tenant, ids) -> dict:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = sess.execute(
        select(User.id, User.name).where(User.tenant_id == tenant.id, User.id.in_(ids))
    )
    return dict(rows.all())


def _note_dict(sess: Session, note: CaseNote, names: dict, *, body: bool = True) -> dict:
    d = {
        "version": note.version,
        "is_amendment": note.is_amendment,
        "reason": open_text(sess, note.tenant_id, "case_notes", "reason", note.id, note.reason),
        "author_id": note.author_id,
        "author_name": names.get(note.author_id),
        "created_at": note.created_at,
    }
    if body:
        d["sections"] = open_json(sess, note.tenant_id, "case_notes", "body", note.id, note.body)
    return d


def _visit_dict(sess: Session, visit: ClinicalVisit, names: dict, current: CaseNote | None) -> dict:
    return {
        "id": visit.id,
        "patient_id": visit.patient_id,
        "practitioner_id": visit.practitioner_id,
        "practitioner_name": names.get(visit.practitioner_id),
        "appointment_id": visit.appointment_id,
        "kind": visit.kind,
        "visit_date": visit.visit_date,
        "status": visit.status,
        "signed_at": visit.signed_at,
        "signed_by": visit.signed_by,
        "shared_with_patient": visit.shared_with_patient,
        "patient_summary": open_text(
            sess,
            visit.tenant_id,
            "clinical_visits",
            "patient_summary",
            visit.id,
            visit.patient_summary,
        ),
        "note": _note_dict(sess, current, names) if current is not None else None,
    }


def prescription_dict(sess: Session, rx: Prescription, names: dict | None = None) -> dict:
    """A prescription, opened."""
    names = names or {}
    details = open_json(sess, rx.tenant_id, "prescriptions", "details", rx.id, rx.details) or {}
    return {
        "id": rx.id,
        "visit_id": rx.visit_id,
        "patient_id": rx.patient_id,
        "practitioner_id": rx.practitioner_id,
        "practitioner_name": names.get(rx.practitioner_id),
        **{k: details.get(k) for k in PRESCRIPTION_FIELDS},
        "follow_up_from": rx.follow_up_from,
        "follow_up_to": rx.follow_up_to,
        "follow_up_service_id": rx.follow_up_service_id,
        "shared_with_patient": rx.shared_with_patient,
        "is_amendment": rx.is_amendment,
        "amendment_reason": open_text(
            sess, rx.tenant_id, "prescriptions", "amendment_reason", rx.id, rx.amendment_reason
        ),
        "voided_at": rx.voided_at,
        "void_reason": open_text(
            sess, rx.tenant_id, "prescriptions", "void_reason", rx.id, rx.void_reason
        ),
        "invited_at": rx.invited_at,
        "created_at": rx.created_at,
    }


def fact_dict(sess: Session, fact: ClinicalFact) -> dict:
    """An allergy or medication entry, opened."""
    details = (
        open_json(sess, fact.tenant_id, "clinical_facts", "details", fact.id, fact.details) or {}
    )
    return {
        "id": fact.id,
        "kind": fact.kind,
        "name": details.get("name"),
        "details": details.get("details"),
        "created_at": fact.created_at,
        "ended_at": fact.ended_at,
        "end_reason": open_text(
            sess, fact.tenant_id, "clinical_facts", "end_reason", fact.id, fact.end_reason
        ),
    }


def _current_notes(sess: Session, tenant: Tenant, visit_ids) -> dict:
    if not visit_ids:
        return {}
    latest = (
        select(CaseNote.visit_id, func.max(CaseNote.version).label("v"))
        .where(CaseNote.tenant_id == tenant.id, CaseNote.visit_id.in_(visit_ids))
        .group_by(CaseNote.visit_id)
        .subquery()
    )
    notes = sess.scalars(
        select(CaseNote)
        .join(latest, (CaseNote.visit_id == latest.c.visit_id) & (CaseNote.version == latest.c.v))
        .where(CaseNote.tenant_id == tenant.id)
    )
    return {n.visit_id: n for n in notes}


def read_visit(sess: Session, tenant: Tenant, actor, visit: ClinicalVisit) -> dict:
    """A visit with its current notes and the list of versions (audited)."""
    require_clinical(tenant, actor)
    notes = list(
        sess.scalars(
            select(CaseNote)
            .where(CaseNote.tenant_id == tenant.id, CaseNote.visit_id == visit.id)
            .order_by(CaseNote.version)
        )
    )
    names = _names(sess, tenant, [visit.practitioner_id, *(n.author_id for n in notes)])
    d = _visit_dict(sess, visit, names, notes[-1] if notes else None)
    d["versions"] = [_note_dict(sess, n, names, body=False) for n in notes]
    rxs = sess.scalars(
        select(Prescription)
        .where(Prescription.tenant_id == tenant.id, Prescription.visit_id == visit.id)
        .order_by(Prescription.created_at)
    )
    d["prescriptions"] = [prescription_dict(sess, rx, names) for rx in rxs]
    audit_read(sess, tenant, actor, visit.patient_id, "visit", [visit.id])
    return d


def read_note_version(
    sess: Session, tenant: Tenant, actor, visit: ClinicalVisit, version: int
) -> dict:
    """One earlier (or the current) version of a visit's notes (audited)."""
    require_clinical(tenant, actor)
    note = sess.scalar(
        select(CaseNote).where(
            CaseNote.tenant_id == tenant.id,
            CaseNote.visit_id == visit.id,
            CaseNote.version == version,
        )
    )
    if note is None:
        raise NotFound({"version": "No such version."})
    names = _names(sess, tenant, [note.author_id])
    audit_read(sess, tenant, actor, visit.patient_id, "case_note", [note.id])
    return {"visit_id": visit.id, **_note_dict(sess, note, names)}


def read_patient_record(sess: Session, tenant: Tenant, actor, patient: Patient) -> dict:
    """The whole clinical record of a patient: facts, visits with current notes, prescriptions."""
    require_clinical(tenant, actor)
    visits = list(
        sess.scalars(
            select(ClinicalVisit)
            .where(ClinicalVisit.tenant_id == tenant.id, ClinicalVisit.patient_id == patient.id)
            .order_by(ClinicalVisit.visit_date.desc(), ClinicalVisit.created_at.desc())
        )
    )
    current = _current_notes(sess, tenant, [v.id for v in visits])
    rxs = list(
        sess.scalars(
            select(Prescription)
            .where(Prescription.tenant_id == tenant.id, Prescription.patient_id == patient.id)
            .order_by(Prescription.created_at.desc())
        )
    )
    facts = list(
        sess.scalars(
            select(ClinicalFact)
            .where(ClinicalFact.tenant_id == tenant.id, ClinicalFact.patient_id == patient.id)
            .order_by(ClinicalFact.created_at)
        )
    )
    names = _names(
        sess,
        tenant,
        [v.practitioner_id for v in visits]
        + [n.author_id for n in current.values()]
        + [r.practitioner_id for r in rxs],
    )
    facts_out = [fact_dict(sess, f) for f in facts]
    audit_read(sess, tenant, actor, patient.id, "record", [v.id for v in visits])
    return {
        "patient": demographics(sess, patient),
        "allergies": [f for f in facts_out if f["kind"] == "allergy"],
        "medications": [f for f in facts_out if f["kind"] == "medication"],
        "visits": [_visit_dict(sess, v, names, current.get(v.id)) for v in visits],
        "prescriptions": [prescription_dict(sess, r, names) for r in rxs],
    }


def list_prescriptions(sess: Session, tenant: Tenant, actor, patient: Patient) -> list[dict]:
    """A patient's prescriptions, newest first (audited)."""
    require_clinical(tenant, actor)
    rxs = list(
        sess.scalars(
            select(Prescription)
            .where(Prescription.tenant_id == tenant.id, Prescription.patient_id == patient.id)
            .order_by(Prescription.created_at.desc())
        )
    )
    names = _names(sess, tenant, [r.practitioner_id for r in rxs])
    audit_read(sess, tenant, actor, patient.id, "prescriptions", [r.id for r in rxs])
    return [prescription_dict(sess, r, names) for r in rxs]


# -- the patient's own view (portal) ---------------------------------------------------------------
def shared_visits_for_patient(sess: Session, tenant: Tenant, patient: Patient) -> list[dict]:
    """Signed visits the clinic chose to share: date, kind, practitioner, summary (audited)."""
    visits = list(
        sess.scalars(
            select(ClinicalVisit)
            .where(
                ClinicalVisit.tenant_id == tenant.id,
                ClinicalVisit.patient_id == patient.id,
                ClinicalVisit.shared_with_patient.is_(True),
                ClinicalVisit.status == "signed",
            )
            .order_by(ClinicalVisit.visit_date.desc())
        )
    )
    names = _names(sess, tenant, [v.practitioner_id for v in visits])
    audit_read(sess, tenant, patient, patient.id, "shared_visits", [v.id for v in visits])
    return [
        {
            "id": v.id,
            "kind": v.kind,
            "visit_date": v.visit_date,
            "practitioner_name": names.get(v.practitioner_id),
            "summary": open_text(
                sess, v.tenant_id, "clinical_visits", "patient_summary", v.id, v.patient_summary
            ),
        }
        for v in visits
    ]


def shared_prescriptions_for_patient(sess: Session, tenant: Tenant, patient: Patient) -> list[dict]:
    """Prescriptions the clinic chose to share, not void (audited)."""
    rxs = list(
        sess.scalars(
            select(Prescription)
            .where(
                Prescription.tenant_id == tenant.id,
                Prescription.patient_id == patient.id,
                Prescription.shared_with_patient.is_(True),
                Prescription.voided_at.is_(None),
            )
            .order_by(Prescription.created_at.desc())
        )
    )
    names = _names(sess, tenant, [r.practitioner_id for r in rxs])
    audit_read(sess, tenant, patient, patient.id, "shared_prescriptions", [r.id for r in rxs])
    return [
        {k: d[k] for k in SHARED_PRESCRIPTION_FIELDS}
        for d in (prescription_dict(sess, r, names) for r in rxs)
    ]


def patients_with_activity_before(
    sess: Session, tenant: Tenant, cutoff: dt.datetime
) -> list[Patient]:
    """Active patients with no visit and no registration since ``cutoff`` (retention).

    Patients under legal hold are never among them.
    """
    last_visit = (
        select(func.max(ClinicalVisit.visit_date))
        .where(ClinicalVisit.tenant_id == Patient.tenant_id, ClinicalVisit.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    return list(
        sess.scalars(
            select(Patient).where(
                Patient.tenant_id == tenant.id,
                Patient.status == "active",
                Patient.legal_hold_at.is_(None),
                Patient.created_at < cutoff,
                or_(last_visit.is_(None), last_visit < cutoff.date()),
            )
        )
    )


def kept_records_due(sess: Session, tenant: Tenant, today: dt.date) -> list[Patient]:
    """Erased patients whose kept clinical records are due for erasure (not under hold)."""
    return list(
        sess.scalars(
            select(Patient).where(
                Patient.tenant_id == tenant.id,
                Patient.status == "erased",
                Patient.records_kept_until <= today,
                Patient.legal_hold_at.is_(None),
            )
        )
    )
