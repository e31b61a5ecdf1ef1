"""Prescription-driven follow-up: the recall list and the booking invitation.

A prescription may carry a follow-up window (e.g. 28-42 days after the visit). It is *due*
on the recall list from ``within_days`` before the window opens until a later visit of the
same patient is recorded, staff close it by hand, or the prescription is voided.

Invitation: ``lead_days`` (clinic setting, default 7) before the window opens, a patient with
an email and a standing ``reminders_email`` consent is emailed once (outbox) a link to the
clinic's booking page pre-filtered to the follow-up service, the practitioner and the window:
``/book?service_id=<id>&practitioner_id=<id>&start=YYYY-MM-DD&end=YYYY-MM-DD&follow_up=<rx>``
— the parameter names of the public slots API (``/api/v1/slots``), so the portal booking
page passes them straight through; the recall list also gives that ``slots_url``. The email
carries no clinical content.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from saas import audit, outbox
from saas.models import Patient, Tenant, User, utcnow
from saas.patients import read_sealed

from .consents import has_consent
from .models import ClinicalVisit, Prescription
from .policy import RecordsError, records_settings
from .queries import audit_read
from .sealing import open_json


def _window_params(rx: Prescription) -> dict:
    return {
        k: v
        for k, v in (
            ("service_id", rx.follow_up_service_id),
            ("practitioner_id", rx.practitioner_id),
            ("start", rx.follow_up_from.isoformat() if rx.follow_up_from else None),
            ("end", rx.follow_up_to.isoformat() if rx.follow_up_to else None),
        )
        if v is not None
    }


def booking_url(tenant: Tenant, rx: Prescription) -> str:
    """The portal booking page pre-filtered to this follow-up (same names as the slots API)."""
    params = {**_window_params(rx), "follow_up": rx.id}
    return current_app.config["SIMILIA"].public_url(tenant.slug, "/book?" + urlencode(params))


def slots_url(rx: Prescription) -> str | None:
    """The slots API query for this follow-up window (needs the follow-up service)."""
    if rx.follow_up_service_id is None:
        return None
    return "/api/v1/slots?" + urlencode(_window_params(rx))


def _open_recalls(tenant: Tenant):
    """Prescriptions with a follow-up window, not void/closed, no later visit, patient active."""
    origin = aliased(ClinicalVisit)
    later = aliased(ClinicalVisit)
    return (
        select(Prescription, Patient, origin.visit_date)
        .join(
            Patient,
            (Patient.tenant_id == Prescription.tenant_id) & (Patient.id == Prescription.patient_id),
        )
        .join(
            origin,
            (origin.tenant_id == Prescription.tenant_id) & (origin.id == Prescription.visit_id),
        )
        .where(
            Prescription.tenant_id == tenant.id,
            Prescription.follow_up_from.is_not(None),
            Prescription.voided_at.is_(None),
            Prescription.recall_closed_at.is_(None),
            Patient.status == "active",
            ~exists().where(
                later.tenant_id == Prescription.tenant_id,
                later.patient_id == Prescription.patient_id,
                later.visit_date > origin.visit_date,
            ),
        )
    )


def recall_list(
    sess: Session,
    tenant: Tenant,
    actor: User,
    *,
    within_days: int = 14,
    include_clinical: bool,
    today: dt.date | None = None,
) -> list[dict]:
    """Follow-ups due soon or overdue, earliest first (audited)."""
    today = today or utcnow().date()
    rows = sess.execute(
        _open_recalls(tenant)
        .where(Prescription.follow_up_from <= today + dt.timedelta(days=within_days))
        .order_by(Prescription.follow_up_from, Patient.full_name)
    ).all()
    names = dict(
        sess.execute(
            select(User.id, User.name).where(
                User.tenant_id == tenant.id,
                User.id.in_({r[0].practitioner_id for r in rows} or {None}),
            )
        ).all()
    )
    out = []
    for rx, patient, _ in rows:
        status = (
            "upcoming"
            if rx.follow_up_from > today
            else "overdue"
            if rx.follow_up_to < today
            else "due"
        )
        item = {
            "prescription_id": rx.id,
            "patient_id": patient.id,
            "patient_name": patient.full_name,
            "practitioner_id": rx.practitioner_id,
            "practitioner_name": names.get(rx.practitioner_id),
            "follow_up_from": rx.follow_up_from,
            "follow_up_to": rx.follow_up_to,
            "follow_up_service_id": rx.follow_up_service_id,
            "status": status,
            "invited_at": rx.invited_at,
            "booking_url": booking_url(tenant, rx),
            "slots_url": slots_url(rx),
        }
        if include_clinical:
            details = (
                open_json(sess, tenant.id, "prescriptions", "details", rx.id, rx.details) or {}
            )
            item["remedy"], item["potency"] = details.get("remedy"), details.get("potency")
        out.append(item)
    if include_clinical and rows:
        for patient_id in {r[1].id for r in rows}:
            audit_read(
                sess,
                tenant,
                actor,
                patient_id,
                "recall",
                [r[0].id for r in rows if r[1].id == patient_id],
            )
    audit.record(sess, tenant.id, "recall.viewed", actor=actor, data={"items": len(out)})
    return out


def close_recall(sess: Session, tenant: Tenant, actor: User, rx: Prescription) -> None:
    """Take a follow-up off the recall list (booked by phone, declined...)."""
    if rx.follow_up_from is None:
        raise RecordsError({"prescription": "This prescription has no follow-up window."})
    if rx.recall_closed_at is not None:
        raise RecordsError({"prescription": "Already closed."}, status=409)
    rx.recall_closed_at = utcnow()
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "recall.closed",
        actor=actor,
        target=f"patient:{rx.patient_id}",
        data={"prescription_id": str(rx.id)},
    )


def invite_due_follow_ups(sess: Session, tenant: Tenant, *, today: dt.date | None = None) -> int:
    """Email each patient whose follow-up window opens within the lead time (once)."""
    today = today or utcnow().date()
    lead = records_settings(tenant)["follow_up_invite_lead_days"]
    rows = sess.execute(
        _open_recalls(tenant)
        .where(
            Prescription.invited_at.is_(None),
            Prescription.follow_up_from <= today + dt.timedelta(days=lead),
            Prescription.follow_up_to >= today,
        )
        .with_for_update(of=Prescription, skip_locked=True)
    ).all()
    sent = 0
    for rx, patient, _ in rows:
        if patient.email is None or not has_consent(sess, tenant.id, patient.id, "reminders_email"):
            continue
        practitioner = (
            sess.get(User, (tenant.id, rx.practitioner_id)) if rx.practitioner_id else None
        )
        with_whom = f" with {practitioner.name}" if practitioner else ""
        outbox.emit(
            sess,
            tenant.id,
            "email.follow_up_invitation",
            {
                "to": read_sealed(sess, patient, "email"),
                "subject": f"Time to book your follow-up at {tenant.name}",
                "body": (
                    f"Hello {patient.full_name},\n\nYour practitioner would like to see you for a "
                    f"follow-up{with_whom} between {rx.follow_up_from:%d %b %Y} and "
                    f"{rx.follow_up_to:%d %b %Y}.\nBook a time that suits you:\n"
                    f"{booking_url(tenant, rx)}\n\nYou receive this because you agreed to "
                    "appointment reminders by email; you can withdraw that on the portal.\n"
                ),
                "patient_id": str(patient.id),
            },
        )
        rx.invited_at = utcnow()
        audit.record(
            sess,
            tenant.id,
            "recall.invited",
            actor_label="system",
            target=f"patient:{patient.id}",
            data={"prescription_id": str(rx.id)},
        )
        sent += 1
    sess.flush()
    return sent
