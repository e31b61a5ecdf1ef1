"""Data subject rights and retention: export, erasure, retention, records settings.

Decisions:

- **Export**: staff with ``records.export`` request it; a worker assembles a zip with
  ``record.json`` (demographics, consents, allergies/medication, every visit with *every*
  note version, prescriptions, attachment metadata and the access log of the patient's
  record) and ``attachments/<id>-<name>``. The zip is sealed with the clinic's key in
  ``record_exports``; it can be downloaded **once**, within :data:`EXPORT_TTL`, by a user who
  holds ``records.export`` *and* may read clinical content; then it is destroyed (a second
  download or a late one is :class:`~saas.exceptions.Gone`). The job is enqueued through the
  outbox in the request's transaction, so it exists exactly when the request does.
- **The patient's own copy** (GDPR art. 15 and 20): a patient asks on the portal
  (:func:`request_own_export`, one open request at a time); the same worker assembles the
  same bundle, the patient gets an email with a link to their profile, and only that patient,
  signed in on that clinic's portal, downloads it once (:func:`download_own_export`). Staff
  never see or download a patient's own export (:func:`access_export` leaves it out), so
  the one download is the patient's.
- **Erasure**: staff confirm by typing the patient's full name; personal and clinical data
  are destroyed (rows deleted, sealed values gone); the ``patients`` row stays, anonymised
  (``status='erased'``), so appointments and visit rows keep their foreign keys and the
  clinic's statistics (dates, kinds, practitioners) survive without identity. Undelivered
  outbox mail to the patient is dropped, delivered mail is scrubbed of the address. Other
  features add their own anonymisation with :func:`on_erasure` (e.g. scheduling clearing
  appointment notes). The audit log is append-only and keeps only pseudonymous ids; an
  entry records the erasure itself.
- **Retention**: ``retention_years`` per clinic (None = keep); the daily worker erases
  patients with no visit and no registration within that time, and expires export bundles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import uuid
import zipfile
from collections.abc import Callable

from flask_babel import gettext
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from saas import audit, jobs, languages, outbox, settings
from saas.actors import as_actor
from saas.exceptions import Conflict, Gone, Invalid, not_found
from saas.fields import open_bytes_field, seal_bytes_field
from saas.models import AuditEntry, OutboxMessage, Patient, PatientToken, Tenant, User, utcnow
from saas.patients import read_sealed
from saas.scheduling.models import Appointment
from saas.security import patient_totp

from . import retention
from .attachments import safe_filename
from .consents import list_consents
from .models import (
    Attachment,
    CaseNote,
    ClinicalFact,
    ClinicalVisit,
    Consent,
    Prescription,
    RecordExport,
)
from .policy import records_settings, require_clinical
from .queries import (
    demographics,
    fact_dict,
    kept_records_due,
    patients_with_activity_before,
    prescription_dict,
)
from .sealing import open_json, open_text
from .settings import RECORDS

log = logging.getLogger(__name__)
EXPORT_TTL = dt.timedelta(hours=24)
ERASED_NAME = "Erased patient"
#: Callables ``(sess, tenant, patient) -> dict[str, int]`` run inside erasure.
ERASURE_HOOKS: list[Callable[[Session, Tenant, Patient], dict]] = []


def on_erasure(hook: Callable[[Session, Tenant, Patient], dict]) -> Callable:
    """Register another feature's anonymisation step (decorator)."""
    ERASURE_HOOKS.append(hook)
    return hook


# -- export ----------------------------------------------------------------------------------------
def _queue_export(
    sess: Session, tenant: Tenant, patient: Patient, *, requested_by: User | None
) -> RecordExport:
    """Create a pending export, audit the request and enqueue its assembly (one path for both).

    ``requested_by`` is the staff member who asked, or None when the patient asked on the
    portal (the audit entry then names the patient and says so).
    """
    by_patient = requested_by is None
    export = RecordExport(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        patient_id=patient.id,
        requested_by=None if by_patient else requested_by.id,
        requested_by_patient=by_patient,
        status="pending",
        created_at=utcnow(),
    )
    sess.add(export)
    sess.flush()
    data = {"export_id": str(export.id)}
    if by_patient:
        data["by"] = "patient"
    audit.record(
        sess,
        tenant.id,
        "records.export_requested",
        actor=patient if by_patient else requested_by,
        target=f"patient:{patient.id}",
        data=data,
    )
    jobs.enqueue(sess, tenant.id, "assemble_export", export_id=str(export.id))
    return export


def request_export(sess: Session, tenant: Tenant, actor: User, patient: Patient) -> RecordExport:
    """Queue a data export of one patient (staff with ``records.export``)."""
    return _queue_export(sess, tenant, patient, requested_by=actor)


def access_export(sess: Session, tenant: Tenant, export_id) -> RecordExport:
    """An export staff asked for in this clinic (:class:`~saas.exceptions.NotFound` otherwise)."""
    export = sess.scalar(
        select(RecordExport).where(
            RecordExport.tenant_id == tenant.id,
            RecordExport.id == export_id,
            RecordExport.requested_by_patient.is_(False),
        )
    )
    if export is None:
        raise not_found("export")
    return export


def _iso(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, uuid.UUID):
        return str(obj)
    return _iso(obj)


def build_bundle(sess: Session, tenant: Tenant, patient: Patient) -> bytes:
    """The export zip of one patient (system read: the caller audits)."""
    tid = tenant.id
    visits = list(
        sess.scalars(
            select(ClinicalVisit)
            .where(ClinicalVisit.tenant_id == tid, ClinicalVisit.patient_id == patient.id)
            .order_by(ClinicalVisit.visit_date, ClinicalVisit.created_at)
        )
    )
    notes = list(
        sess.scalars(
            select(CaseNote)
            .where(
                CaseNote.tenant_id == tid, CaseNote.visit_id.in_([v.id for v in visits] or [None])
            )
            .order_by(CaseNote.version)
        )
    )
    names = dict(sess.execute(select(User.id, User.name).where(User.tenant_id == tid)).all())
    rxs = sess.scalars(
        select(Prescription)
        .where(Prescription.tenant_id == tid, Prescription.patient_id == patient.id)
        .order_by(Prescription.created_at)
    )
    facts = sess.scalars(
        select(ClinicalFact).where(
            ClinicalFact.tenant_id == tid, ClinicalFact.patient_id == patient.id
        )
    )
    atts = list(
        sess.scalars(
            select(Attachment).where(
                Attachment.tenant_id == tid, Attachment.patient_id == patient.id
            )
        )
    )
    access_log = sess.execute(
        select(AuditEntry.created_at, AuditEntry.actor_label, AuditEntry.action, AuditEntry.data)
        .where(AuditEntry.tenant_id == tid, AuditEntry.target == f"patient:{patient.id}")
        .order_by(AuditEntry.seq)
    ).all()
    files = {}
    att_out = []
    for a in atts:
        name = open_text(sess, tid, "patient_attachments", "filename", a.id, a.filename)
        path = f"attachments/{a.id}-{safe_filename(name)}"
        files[path] = open_bytes_field(sess, tid, "patient_attachments", "content", a.id, a.content)
        att_out.append(
            {
                "id": a.id,
                "visit_id": a.visit_id,
                "filename": name,
                "content_type": a.content_type,
                "size_bytes": a.size_bytes,
                "created_at": a.created_at,
                "path": path,
            }
        )
    record = {
        "format": "similia-patient-export/1",
        "generated_at": utcnow(),
        "clinic": {"name": tenant.name, "slug": tenant.slug},
        "patient": {k: v for k, v in demographics(sess, patient).items()},
        "consents": [
            {
                "purpose": c.purpose,
                "text_version": c.text_version,
                "channel": c.channel,
                "granted_at": c.granted_at,
                "withdrawn_at": c.withdrawn_at,
                "withdrawn_channel": c.withdrawn_channel,
            }
            for c in list_consents(sess, tenant, patient)
        ],
        "allergies_and_medication": [fact_dict(sess, f) for f in facts],
        "visits": [
            {
                "id": v.id,
                "kind": v.kind,
                "visit_date": v.visit_date,
                "status": v.status,
                "signed_at": v.signed_at,
                "practitioner": names.get(v.practitioner_id),
                "patient_summary": open_text(
                    sess, tid, "clinical_visits", "patient_summary", v.id, v.patient_summary
                ),
                "note_versions": [
                    {
                        "version": n.version,
                        "is_amendment": n.is_amendment,
                        "created_at": n.created_at,
                        "author": names.get(n.author_id),
                        "reason": open_text(sess, tid, "case_notes", "reason", n.id, n.reason),
                        "sections": open_json(sess, tid, "case_notes", "body", n.id, n.body),
                    }
                    for n in notes
                    if n.visit_id == v.id
                ],
            }
            for v in visits
        ],
        "prescriptions": [prescription_dict(sess, r, names) for r in rxs],
        "attachments": att_out,
        "access_log": [
            {"at": at, "by": who, "action": action, "record": (data or {}).get("record")}
            for at, who, action, data in access_log
        ],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("record.json", json.dumps(_jsonable(record), indent=2, ensure_ascii=False))
        for path, data in files.items():
            zf.writestr(path, data)
    return buf.getvalue()


def assemble_export(sess: Session, tenant: Tenant, export_id) -> RecordExport | None:
    """Worker step: build, seal and store the bundle; tell the requester it is ready."""
    export = sess.scalar(
        select(RecordExport)
        .where(RecordExport.tenant_id == tenant.id, RecordExport.id == export_id)
        .with_for_update(skip_locked=True)
    )
    if export is None or export.status != "pending":
        return export
    patient = sess.get(Patient, (tenant.id, export.patient_id))
    if patient is None or patient.status != "active":
        export.status = "failed"
        return export
    data = build_bundle(sess, tenant, patient)
    export.bundle = seal_bytes_field(sess, tenant, "record_exports", "bundle", export.id, data)
    export.size_bytes = len(data)
    export.status, export.ready_at = "ready", utcnow()
    export.expires_at = export.ready_at + EXPORT_TTL
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "records.export_ready",
        target=f"patient:{patient.id}",
        data={"export_id": str(export.id), "size": len(data)},
    )
    if export.requested_by_patient:
        _tell_patient(sess, tenant, patient, export)
        return export
    requester = sess.get(User, (tenant.id, export.requested_by))
    if requester is not None:
        outbox.emit(
            sess,
            tenant.id,
            "email.export_ready",
            {
                "to": requester.email,
                "subject": f"A patient data export is ready at {tenant.name}",
                "body": (
                    f"Hello {requester.name},\n\nThe data export you requested "
                    f"(ref {export.id}) is ready. Download it once before "
                    f"{export.expires_at:%d %b %Y %H:%M} UTC from the "
                    "staff console or the API.\n"
                ),
            },
        )
    return export


def _tell_patient(sess: Session, tenant: Tenant, patient: Patient, export: RecordExport) -> None:
    """Email the patient that their copy waits on their profile page."""
    from flask import current_app

    link = current_app.config["SIMILIA"].public_url(tenant.slug, "/profile#your-data")
    address = read_sealed(sess, patient, "email")
    if not address:
        return
    with languages.force_locale(languages.patient_language(tenant, patient)):
        subject = gettext("Your copy of your data at %(clinic)s is ready", clinic=tenant.name)
        body = gettext(
            "Hello %(name)s,\n\nThe copy of your data you asked for is ready. Sign in and "
            "download it once before %(until)s UTC:\n%(link)s\n",
            name=patient.full_name,
            until=languages.when(export.expires_at.astimezone(dt.UTC)),
            link=link,
        )
    outbox.emit(
        sess, tenant.id, "email.export_ready", {"to": address, "subject": subject, "body": body}
    )


def claim_bundle(sess: Session, tenant: Tenant, export, *, ask_again: str = "", **values) -> bytes:
    """Take a sealed export bundle once (atomic), destroy it, return it; refusals say why.

    ``export`` is a :class:`RecordExport` or a clinic export (same columns: ``status``,
    ``bundle``, ``expires_at``, ``downloaded_at``); ``values`` are set with the claim (who
    downloaded it); ``ask_again`` ends the "already downloaded"/"expired" messages.
    """
    model = type(export)
    claimed = sess.execute(
        update(model)
        .where(
            model.tenant_id == tenant.id,
            model.id == export.id,
            model.status == "ready",
            model.downloaded_at.is_(None),
            model.expires_at > func.now(),
        )
        .values(status="downloaded", downloaded_at=func.now(), **values)
        .returning(model.bundle)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        sess.refresh(export)
        if export.status == "pending":
            raise Conflict({"export": "The export is still being prepared."})
        if export.status == "downloaded":
            raise Gone({"export": f"This export was already downloaded{ask_again}."})
        raise Gone({"export": f"This export has expired{ask_again}."})
    table = model.__tablename__
    data = open_bytes_field(sess, tenant.id, table, "bundle", export.id, claimed[0])
    sess.execute(
        update(model)
        .where(model.tenant_id == tenant.id, model.id == export.id)
        .values({model.bundle: None})
        .execution_options(synchronize_session=False)
    )
    return data


def download_export(sess: Session, tenant: Tenant, actor: User, export: RecordExport) -> bytes:
    """Claim the bundle once (atomic), destroy it, return the zip (audited)."""
    require_clinical(tenant, actor)
    data = claim_bundle(sess, tenant, export, downloaded_by=actor.id)
    audit.record(
        sess,
        tenant.id,
        "records.export_downloaded",
        actor=actor,
        target=f"patient:{export.patient_id}",
        data={"export_id": str(export.id)},
    )
    sess.refresh(export)
    return data


# -- the patient's own copy ------------------------------------------------------------------------
def latest_own_export(sess: Session, tenant: Tenant, patient: Patient) -> RecordExport | None:
    """The newest export this patient asked for on the portal, if any."""
    return sess.scalar(
        select(RecordExport)
        .where(
            RecordExport.tenant_id == tenant.id,
            RecordExport.patient_id == patient.id,
            RecordExport.requested_by_patient.is_(True),
        )
        .order_by(RecordExport.created_at.desc())
        .limit(1)
    )


def _open(export: RecordExport | None) -> bool:
    """Still being prepared, or ready and not yet expired."""
    if export is None:
        return False
    return export.status == "pending" or (
        export.status == "ready" and export.expires_at is not None and export.expires_at > utcnow()
    )


def request_own_export(sess: Session, tenant: Tenant, patient: Patient) -> RecordExport:
    """The patient asks for a copy of their data; an open request is returned as it is."""
    current = latest_own_export(sess, tenant, patient)
    if _open(current):
        return current
    return _queue_export(sess, tenant, patient, requested_by=None)


def access_own_export(sess: Session, tenant: Tenant, patient: Patient, export_id) -> RecordExport:
    """The patient's own export in this clinic; anything else is the same NotFound."""
    export = sess.scalar(
        select(RecordExport).where(
            RecordExport.tenant_id == tenant.id,
            RecordExport.id == export_id,
            RecordExport.patient_id == patient.id,
            RecordExport.requested_by_patient.is_(True),
        )
    )
    if export is None:
        raise not_found("export")
    return export


def download_own_export(
    sess: Session, tenant: Tenant, patient: Patient, export: RecordExport
) -> bytes:
    """The patient takes their copy, once (audited as the patient)."""
    if export.patient_id != patient.id or not export.requested_by_patient:
        raise not_found("export")
    data = claim_bundle(sess, tenant, export, downloaded_by=None)
    audit.record(
        sess,
        tenant.id,
        "records.export_downloaded",
        actor=patient,
        target=f"patient:{export.patient_id}",
        data={"export_id": str(export.id), "by": "patient"},
    )
    sess.refresh(export)
    return data


def expire_exports(sess: Session, tenant: Tenant) -> int:
    """Destroy bundles past their time limit."""
    res = sess.execute(
        update(RecordExport)
        .where(
            RecordExport.tenant_id == tenant.id,
            RecordExport.status == "ready",
            RecordExport.expires_at <= func.now(),
        )
        .values({RecordExport.status: "expired", RecordExport.bundle: None})
        .execution_options(synchronize_session=False)
    )
    return res.rowcount or 0


# -- erasure ---------------------------------------------------------------------------------------
def _count_delete(sess: Session, model, *where) -> int:
    return (
        sess.execute(
            delete(model).where(*where).execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def _erase_clinical(sess: Session, tid, pid) -> dict[str, int]:
    """Delete the clinical record; the visits stay as anonymous statistics."""
    visit_ids = select(ClinicalVisit.id).where(
        ClinicalVisit.tenant_id == tid, ClinicalVisit.patient_id == pid
    )
    removed = {
        "case_notes": _count_delete(
            sess, CaseNote, CaseNote.tenant_id == tid, CaseNote.visit_id.in_(visit_ids)
        ),
        "prescriptions": _count_delete(
            sess, Prescription, Prescription.tenant_id == tid, Prescription.patient_id == pid
        ),
        "clinical_facts": _count_delete(
            sess, ClinicalFact, ClinicalFact.tenant_id == tid, ClinicalFact.patient_id == pid
        ),
        "attachments": _count_delete(
            sess, Attachment, Attachment.tenant_id == tid, Attachment.patient_id == pid
        ),
    }
    removed["visits_anonymised"] = (
        sess.execute(
            update(ClinicalVisit)
            .where(ClinicalVisit.tenant_id == tid, ClinicalVisit.patient_id == pid)
            .values({ClinicalVisit.patient_summary: None, ClinicalVisit.shared_with_patient: False})
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    return removed


def _erase_personal(sess: Session, tenant: Tenant, patient: Patient) -> dict[str, int]:
    """Delete the account, contact data, consents, exports and messages of a patient."""
    tid, pid = tenant.id, patient.id
    email = read_sealed(sess, patient, "email") if patient.email is not None else None
    removed = {
        "consents": _count_delete(
            sess, Consent, Consent.tenant_id == tid, Consent.patient_id == pid
        ),
        "exports": _count_delete(
            sess, RecordExport, RecordExport.tenant_id == tid, RecordExport.patient_id == pid
        ),
        "portal_tokens": _count_delete(
            sess, PatientToken, PatientToken.tenant_id == tid, PatientToken.patient_id == pid
        ),
    }
    # what patients or staff wrote about the visits (a sealed cancellation reason, a payment
    # note) goes; the appointments themselves stay for the schedule's statistics
    removed["appointment_notes_cleared"] = (
        sess.execute(
            update(Appointment)
            .where(Appointment.tenant_id == tid, Appointment.patient_id == pid)
            .values({Appointment.cancel_reason: None, Appointment.payment_ref: None})
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    # a visit summary shared on the portal is no longer shown to anyone
    sess.execute(
        update(ClinicalVisit)
        .where(ClinicalVisit.tenant_id == tid, ClinicalVisit.patient_id == pid)
        .values({ClinicalVisit.shared_with_patient: False})
        .execution_options(synchronize_session=False)
    )
    if email:
        addressed = or_(
            OutboxMessage.payload["to"].astext == email,
            OutboxMessage.payload["patient_id"].astext == str(pid),
        )
        removed["outbox_dropped"] = _count_delete(
            sess,
            OutboxMessage,
            OutboxMessage.tenant_id == tid,
            OutboxMessage.dispatched_at.is_(None),
            addressed,
        )
        for msg in sess.scalars(
            select(OutboxMessage).where(OutboxMessage.tenant_id == tid, addressed)
        ):
            msg.payload = {**msg.payload, "to": "[erased]", "body": "[erased]"}
    for hook in ERASURE_HOOKS:
        removed.update(hook(sess, tenant, patient) or {})
    patient.email_index = None
    for field in ("email", "phone", "address", "emergency_contact"):
        setattr(patient, field, None)
    patient.preferred_language = None
    patient.communication_prefs = {}
    patient.password_hash = None
    patient.email_verified_at = None
    removed["two_step_recovery_codes"] = patient_totp.forget(sess, patient)
    return removed


def _anonymise(patient: Patient) -> None:
    patient.full_name = ERASED_NAME
    patient.date_of_birth = None
    patient.records_kept_until = None


def erase_patient(
    sess: Session,
    tenant: Tenant,
    actor: User | None,
    patient: Patient,
    *,
    reason: str,
    reference: str | None = None,
    confirm_name: str | None = None,
) -> dict[str, int]:
    """Destroy a patient's personal data, and their clinical data unless the law keeps it.

    A person asking for it (not the retention job) types the patient's full name as
    ``confirm_name``, so a wrong id cannot erase the wrong patient. A patient under legal
    hold is refused (:func:`saas.records.retention.refuse_if_held`). Within the clinic's
    retention period (:func:`saas.records.retention.records_kept_until`) the clinical record,
    the name and the date of birth are kept until ``patient.records_kept_until``; the
    retention job erases them then.
    """
    if patient.status == "erased":
        raise Conflict({"patient": "Already erased."})
    retention.refuse_if_held(patient)
    if confirm_name is not None and confirm_name.strip() != patient.full_name:
        raise Invalid(
            "Type the patient's full name to confirm.",
            errors={"confirm_name": "Does not match the patient's name."},
        )
    keep_until = retention.records_kept_until(sess, tenant, patient)
    removed = _erase_personal(sess, tenant, patient)
    if keep_until is None:
        removed.update(_erase_clinical(sess, tenant.id, patient.id))
        _anonymise(patient)
    else:
        patient.records_kept_until = keep_until
    patient.status = "erased"
    patient.erased_at = patient.updated_at = utcnow()
    sess.flush()
    data = {
        "reason": reason,
        # the request's reference is free text: the log keeps its SHA-256, which proves which
        # request it was against the clinic's own records and reveals nothing
        "reference_sha256": hashlib.sha256(reference.encode()).hexdigest() if reference else None,
        "removed": removed,
    }
    if keep_until is not None:
        data["records_kept_until"] = keep_until.isoformat()
    audit.record(
        sess, tenant.id, "patient.erased", actor=actor, target=f"patient:{patient.id}", data=data
    )
    return removed


def purge_kept_records(sess: Session, tenant: Tenant, patient: Patient) -> dict[str, int]:
    """Erase the clinical record an earlier erasure kept, once its date has passed (audited)."""
    retention.refuse_if_held(patient)
    removed = _erase_clinical(sess, tenant.id, patient.id)
    kept_until = patient.records_kept_until
    _anonymise(patient)
    patient.updated_at = utcnow()
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "patient.records_purged",
        target=f"patient:{patient.id}",
        data={"kept_until": kept_until.isoformat() if kept_until else None, "removed": removed},
    )
    return removed


# -- retention and settings ------------------------------------------------------------------------
def apply_retention(sess: Session, tenant: Tenant, *, now: dt.datetime | None = None) -> int:
    """Erase patients inactive for longer than the clinic's retention; expire exports.

    Records kept by an earlier erasure are erased once their date has passed. Patients under
    legal hold are left alone. Returns the number of patients erased (not purged).
    """
    expire_exports(sess, tenant)
    years = records_settings(tenant)["retention_years"]
    if not years:
        return 0
    now = now or utcnow()
    for patient in kept_records_due(sess, tenant, now.date()):
        purge_kept_records(sess, tenant, patient)
    cutoff = now - dt.timedelta(days=round(365.25 * years))
    erased = 0
    for patient in patients_with_activity_before(sess, tenant, cutoff):
        erase_patient(sess, tenant, None, patient, reason="retention", reference=f"{years}y")
        erased += 1
    return erased


def update_records_settings(sess: Session, tenant: Tenant, actor, data: dict) -> dict:
    """Change the clinic's records settings through the registry (clinical access: owners)."""
    settings.update_settings(sess, tenant, as_actor(actor), RECORDS.name, data)
    return records_settings(tenant)
