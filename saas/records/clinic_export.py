"""The owner's export of the whole clinic: every patient's record, the appointments, the set-up.

Offered above all while a clinic is closing (its grace period), and to an owner at any time:
the data is the clinic's, and leaving must be possible.

Decisions:

- Only an owner asks, with the password and a fresh code again (the same check as closing):
  the bundle holds every clinical record of the clinic. Asking, assembling and the download
  are audited (``clinic.export_requested``, ``clinic.export_ready``,
  ``clinic.export_downloaded``).
- A worker builds it (``assemble_clinic_export``): one folder per patient with the same
  ``record.json`` and attachments as a patient's own export (:func:`saas.records.gdpr.
  build_bundle`: demographics, consents, allergies and medication, visits with every case-note
  version, prescriptions, attachments), ``appointments.csv`` (every appointment with its
  state, times in UTC and the clinic's zone, visit type, practitioner, price) and
  ``clinic.json`` (clinic, settings, locations, practitioners, visit types, staff). Erased
  patients are left out (nothing of them is left to export).
- The zip is sealed with the clinic's data key in ``clinic_exports.bundle_enc``, downloaded
  **once** by the owner who asked, within :data:`EXPORT_TTL`, then destroyed; a second
  download answers 410 and the owner asks again. One export at a time: asking while one is
  being assembled answers 409.
- It is built in memory: fine for a clinic of a few thousand patients; a larger clinic's
  export would stream to object storage instead (not needed yet).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from saas import audit, jobs, outbox
from saas.exceptions import Conflict, not_found
from saas.fields import seal_bytes_field
from saas.models import Patient, Tenant, User, utcnow
from saas.scheduling.models.appointments import Appointment
from saas.scheduling.models.practice import Location, Practitioner, VisitType

from . import gdpr
from .models import ClinicExport

#: How long a ready export waits for its one download.
EXPORT_TTL = dt.timedelta(days=7)
#: A pending export older than this failed in the worker (its retries are spent): it no
#: longer blocks a new one, and the daily records work marks it failed.
STALE = dt.timedelta(hours=2)
FORMAT = "similia-clinic-export/1"


def latest(sess: Session, tenant: Tenant) -> ClinicExport | None:
    """The clinic's newest export, if any."""
    return sess.scalar(
        select(ClinicExport)
        .where(ClinicExport.tenant_id == tenant.id)
        .order_by(ClinicExport.created_at.desc())
        .limit(1)
    )


def access(sess: Session, tenant: Tenant, export_id) -> ClinicExport:
    """One of this clinic's exports (:class:`~saas.exceptions.NotFound` otherwise)."""
    export = sess.scalar(
        select(ClinicExport).where(
            ClinicExport.tenant_id == tenant.id, ClinicExport.id == export_id
        )
    )
    if export is None:
        raise not_found("export")
    return export


def request_clinic_export(sess: Session, tenant: Tenant, owner: User) -> ClinicExport:
    """Queue the clinic's export (the caller checked the owner's password and code)."""
    busy = sess.scalar(
        select(ClinicExport.id).where(
            ClinicExport.tenant_id == tenant.id,
            ClinicExport.status == "pending",
            ClinicExport.created_at > func.now() - STALE,
        )
    )
    if busy is not None:
        raise Conflict(
            {"export": "An export is being prepared already; you get an email when it is ready."},
            reason="export_pending",
        )
    export = ClinicExport(
        id=uuid.uuid4(), tenant_id=tenant.id, requested_by=owner.id, status="pending"
    )
    sess.add(export)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinic.export_requested",
        actor=owner,
        target=f"tenant:{tenant.id}",
        data={"export_id": str(export.id)},
    )
    jobs.enqueue(sess, tenant.id, "assemble_clinic_export", export_id=str(export.id))
    return export


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


def _appointments_csv(sess: Session, tenant: Tenant) -> bytes:
    zone = ZoneInfo(tenant.timezone)
    visit_types = dict(
        sess.execute(
            select(VisitType.id, VisitType.name).where(VisitType.tenant_id == tenant.id)
        ).all()
    )
    practitioners = dict(
        sess.execute(
            select(Practitioner.id, Practitioner.display_name).where(
                Practitioner.tenant_id == tenant.id
            )
        ).all()
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "patient_id",
            "status",
            "start_utc",
            "end_utc",
            f"start_local ({tenant.timezone})",
            "visit_type",
            "practitioner",
            "price_minor",
            "currency",
            "paid_at",
            "cancelled_at",
            "cancelled_by",
            "late_cancellation",
            "fee_minor",
            "booked_by",
            "created_at",
        ]
    )
    rows = sess.scalars(
        select(Appointment)
        .where(Appointment.tenant_id == tenant.id)
        .order_by(Appointment.start_at, Appointment.id)
        .execution_options(yield_per=500)
    )
    for a in rows:
        writer.writerow(
            [
                a.id,
                a.patient_id,
                a.status,
                _iso(a.start_at),
                _iso(a.end_at),
                a.start_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                visit_types.get(a.service_id, ""),
                practitioners.get(a.practitioner_id, ""),
                a.price_minor,
                a.currency,
                _iso(a.paid_at),
                _iso(a.cancelled_at),
                a.cancelled_by or "",
                "yes" if a.late_cancellation else "no",
                a.fee_minor,
                a.booked_by,
                _iso(a.created_at),
            ]
        )
    return out.getvalue().encode("utf-8")


def _clinic_json(sess: Session, tenant: Tenant, patients: int) -> bytes:
    tid = tenant.id
    doc = {
        "format": FORMAT,
        "generated_at": utcnow(),
        "clinic": {
            "name": tenant.name,
            "slug": tenant.slug,
            "timezone": tenant.timezone,
            "created_at": tenant.created_at,
            "settings": tenant.settings or {},
        },
        "patients": patients,
        "locations": [
            {
                "id": loc.id,
                "name": loc.name,
                "kind": loc.kind,
                "address": loc.address,
                "timezone": loc.timezone,
                "active": loc.is_active,
            }
            for loc in sess.scalars(select(Location).where(Location.tenant_id == tid))
        ],
        "practitioners": [
            {"id": p.id, "name": p.display_name, "title": p.title, "active": p.is_active}
            for p in sess.scalars(select(Practitioner).where(Practitioner.tenant_id == tid))
        ],
        "visit_types": [
            {
                "id": v.id,
                "name": v.name,
                "description": v.description,
                "duration_minutes": v.duration_minutes,
                "price_minor": v.price_minor,
                "currency": v.currency,
                "payment_mode": v.payment_mode,
                "active": v.is_active,
            }
            for v in sess.scalars(select(VisitType).where(VisitType.tenant_id == tid))
        ],
        "staff": [
            {"id": u.id, "name": u.name, "email": u.email, "role": u.role, "active": u.is_active}
            for u in sess.scalars(select(User).where(User.tenant_id == tid))
        ],
    }
    return json.dumps(gdpr._jsonable(doc), indent=2, ensure_ascii=False).encode("utf-8")


README = """Similia clinic export ({format})

clinic.json         the clinic, its settings, locations, practitioners, visit types and staff
appointments.csv    every appointment (times in UTC and in the clinic's zone)
patients/<id>/      one folder per patient: record.json (demographics, consents, allergies and
                    medication, visits with every case-note version, prescriptions, the access
                    log) and attachments/ (the files as uploaded)

This file holds every clinical record of the clinic. Keep it encrypted and delete it when
it has served its purpose.
"""


def build_clinic_bundle(sess: Session, tenant: Tenant) -> tuple[bytes, int]:
    """The zip of the whole clinic and how many patients it holds (system read: caller audits)."""
    patient_ids = list(
        sess.scalars(
            select(Patient.id)
            .where(Patient.tenant_id == tenant.id, Patient.status == "active")
            .order_by(Patient.created_at, Patient.id)
        )
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", README.format(format=FORMAT))
        for pid in patient_ids:
            patient = sess.get(Patient, (tenant.id, pid))
            inner = zipfile.ZipFile(io.BytesIO(gdpr.build_bundle(sess, tenant, patient)))
            for name in inner.namelist():
                zf.writestr(f"patients/{pid}/{name}", inner.read(name))
        zf.writestr("appointments.csv", _appointments_csv(sess, tenant))
        zf.writestr("clinic.json", _clinic_json(sess, tenant, len(patient_ids)))
    return buf.getvalue(), len(patient_ids)


def assemble_clinic_export(sess: Session, tenant: Tenant, export_id) -> ClinicExport | None:
    """Worker step: build, seal and store the bundle; email the owner who asked."""
    export = sess.scalar(
        select(ClinicExport)
        .where(ClinicExport.tenant_id == tenant.id, ClinicExport.id == export_id)
        .with_for_update(skip_locked=True)
    )
    if export is None or export.status != "pending":
        return export
    data, patients = build_clinic_bundle(sess, tenant)
    export.bundle = seal_bytes_field(sess, tenant, "clinic_exports", "bundle", export.id, data)
    export.size_bytes, export.patients = len(data), patients
    export.status, export.ready_at = "ready", utcnow()
    export.expires_at = export.ready_at + EXPORT_TTL
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinic.export_ready",
        target=f"tenant:{tenant.id}",
        data={"export_id": str(export.id), "size": len(data), "patients": patients},
    )
    owner = sess.get(User, (tenant.id, export.requested_by))
    if owner is not None and owner.is_active:
        link = current_app.config["SIMILIA"].public_url(tenant.slug, "/console/clinic-export")
        outbox.emit(
            sess,
            tenant.id,
            "email.export_ready",
            {
                "to": owner.email,
                "subject": f"The export of {tenant.name} is ready",
                "body": (
                    f"Hello {owner.name},\n\nThe export of the whole clinic you asked for "
                    f"({patients} patients) is ready. Download it once before "
                    f"{export.expires_at:%d %b %Y %H:%M} UTC from the console:\n{link}\n"
                ),
            },
        )
    return export


def download_clinic_export(sess: Session, tenant: Tenant, owner: User, export) -> bytes:
    """Claim the bundle once (atomic), destroy it, return the zip (audited).

    Only the owner who asked downloads it; anyone else gets NotFound.
    """
    if export.requested_by != owner.id:
        raise not_found("export")
    data = gdpr.claim_bundle(sess, tenant, export, ask_again="; ask for a new one")
    audit.record(
        sess,
        tenant.id,
        "clinic.export_downloaded",
        actor=owner,
        target=f"tenant:{tenant.id}",
        data={"export_id": str(export.id)},
    )
    sess.refresh(export)
    return data


def expire_clinic_exports(sess: Session, tenant: Tenant) -> int:
    """Destroy ready bundles past their time; mark stale pending ones failed (daily work)."""
    sess.execute(
        update(ClinicExport)
        .where(
            ClinicExport.tenant_id == tenant.id,
            ClinicExport.status == "pending",
            ClinicExport.created_at <= func.now() - STALE,
        )
        .values({ClinicExport.status: "failed"})
        .execution_options(synchronize_session=False)
    )
    return sess.execute(
        update(ClinicExport)
        .where(
            ClinicExport.tenant_id == tenant.id,
            ClinicExport.status == "ready",
            ClinicExport.expires_at <= func.now(),
        )
        .values({ClinicExport.status: "expired", ClinicExport.bundle: None})
        .execution_options(synchronize_session=False)
    ).rowcount
