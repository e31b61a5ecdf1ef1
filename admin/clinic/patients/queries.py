"""Read helpers of the patient pages: list filters and a patient's appointments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from saas.models import Patient, Tenant, utcnow
from saas.records.followups import clinic_today
from saas.records.models import ClinicalVisit, Prescription
from saas.scheduling.models import ACTIVE_STATUSES, Appointment, Practitioner, VisitType

#: The recall list shows follow-ups whose window opens within this many days (or is open).
RECALL_WITHIN_DAYS = 14
#: The list's filters: value -> label.
FILTERS = {
    "": "All active patients",
    "upcoming": "With an upcoming visit",
    "follow_up": "Due for follow-up (on the recall list, not booked)",
}


def list_filter(tenant: Tenant, name: str) -> tuple:
    """Conditions on ``Patient`` for a list filter (see :data:`FILTERS`)."""
    if name == "upcoming":
        return (
            exists().where(
                Appointment.tenant_id == Patient.tenant_id,
                Appointment.patient_id == Patient.id,
                Appointment.status.in_(ACTIVE_STATUSES),
                Appointment.start_at >= utcnow(),
            ),
        )
    if name == "follow_up":
        origin, later = aliased(ClinicalVisit), aliased(ClinicalVisit)
        return (
            exists()
            .where(
                Prescription.tenant_id == Patient.tenant_id,
                Prescription.patient_id == Patient.id,
                Prescription.follow_up_from
                <= clinic_today(tenant) + dt.timedelta(days=RECALL_WITHIN_DAYS),
                Prescription.voided_at.is_(None),
                Prescription.recall_closed_at.is_(None),
                origin.tenant_id == Prescription.tenant_id,
                origin.id == Prescription.visit_id,
                ~exists().where(
                    later.tenant_id == Prescription.tenant_id,
                    later.patient_id == Prescription.patient_id,
                    later.visit_date > origin.visit_date,
                ),
                ~exists().where(
                    Appointment.tenant_id == Patient.tenant_id,
                    Appointment.patient_id == Patient.id,
                    Appointment.status.in_(ACTIVE_STATUSES),
                    Appointment.start_at >= utcnow(),
                ),
            )
            .correlate(Patient),
        )
    return ()


def appointments_of_patient(sess: Session, tenant: Tenant, patient: Patient) -> list[dict]:
    """The patient's appointments, newest first, with visit type and practitioner names."""
    rows = sess.execute(
        select(Appointment, VisitType.name, Practitioner.display_name)
        .join(
            VisitType,
            (VisitType.tenant_id == Appointment.tenant_id)
            & (VisitType.id == Appointment.service_id),
        )
        .join(
            Practitioner,
            (Practitioner.tenant_id == Appointment.tenant_id)
            & (Practitioner.id == Appointment.practitioner_id),
        )
        .where(Appointment.tenant_id == tenant.id, Appointment.patient_id == patient.id)
        .order_by(Appointment.start_at.desc())
        .limit(200)
    ).all()
    now = utcnow()
    return [
        {
            "appt": a,
            "service": service,
            "practitioner": practitioner,
            "upcoming": a.start_at >= now and a.status in ACTIVE_STATUSES,
        }
        for a, service, practitioner in rows
    ]


def as_local(value: dt.datetime, zone) -> dt.datetime:
    """A stored instant in the clinic's zone."""
    return value.astimezone(zone)
