"""Prescription-driven follow-up: the recall list and the booking invitation.

A prescription may carry a follow-up window (e.g. 28-42 days after the visit). It is *due*
on the recall list from ``within_days`` before the window opens until a later visit of the
same patient is recorded, staff close it by hand, or the prescription is voided.

Invitation: ``lead_days`` (clinic setting, default 7) before the window opens, a patient with
an email and a standing ``reminders_email`` consent is emailed once (outbox) a link to the
clinic's booking page pre-filtered to the follow-up visit type, the practitioner and the
window: ``/book?service_id=<id>&practitioner_id=<id>&from=YYYY-MM-DD&to=YYYY-MM-DD&follow_up=<rx>``
— the query of the public slots API (``GET /api/v1/slots``), so the portal booking page
passes it straight through; the recall list gives the same query as ``slots_url``. The email
carries no clinical content.

Decisions:

- the link's ``practitioner_id`` is the *practitioner* (``practitioners.id``) linked to the
  prescriber's staff account, as the slots API expects (a visit records the prescriber's
  user id); when the prescriber has no active practitioner profile the link leaves the
  practitioner open, so it still finds the visit type's free times;
- ``from``/``to`` are dates in the clinic's zone, ``to`` inclusive. The link offers the
  window from today on; an overdue window is offered again from today with its own length.
  It never spans more than :data:`LINK_MAX_DAYS` days, within what the slots API searches at
  once (62 days, even across a DST change), so following it never answers 422;
- "today" is the clinic's local date, for the link and for the due/overdue status alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from saas import audit, languages, outbox
from saas.exceptions import Conflict, Invalid
from saas.models import Patient, Tenant, User, utcnow
from saas.patients import read_sealed
from saas.scheduling.models import Practitioner

from .consents import has_consent
from .models import ClinicalVisit, Prescription
from .policy import records_settings
from .queries import audit_read
from .sealing import open_json

#: Longest span of days a follow-up link asks for (the slots API searches 62 at most).
LINK_MAX_DAYS = 60


def clinic_today(tenant: Tenant) -> dt.date:
    """Today's date in the clinic's zone."""
    return utcnow().astimezone(ZoneInfo(tenant.timezone)).date()


def practitioner_ids_for_users(sess: Session, tenant: Tenant, user_ids) -> dict:
    """Staff user id -> id of the active practitioner profile linked to that account."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = sess.execute(
        select(Practitioner.user_id, Practitioner.id)
        .where(
            Practitioner.tenant_id == tenant.id,
            Practitioner.user_id.in_(ids),
            Practitioner.is_active.is_(True),
        )
        .order_by(Practitioner.created_at, Practitioner.id)
    ).all()
    found: dict = {}
    for user_id, prac_id in rows:
        found.setdefault(user_id, prac_id)  # a second profile of one account: the oldest
    return found


def link_window(rx: Prescription, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The local dates (``to`` inclusive) a follow-up link offers; None without a window."""
    if rx.follow_up_from is None or rx.follow_up_to is None:
        return None
    start = max(rx.follow_up_from, today)
    end = rx.follow_up_to
    if end < start:  # overdue: offer a window of the same length from today
        end = start + (rx.follow_up_to - rx.follow_up_from)
    return start, min(end, start + dt.timedelta(days=LINK_MAX_DAYS - 1))


def _link_params(rx: Prescription, practitioner_id: uuid.UUID | None, today: dt.date) -> dict:
    """The slots API query of a follow-up (only the parts that are known)."""
    window = link_window(rx, today)
    params = {
        "service_id": rx.follow_up_service_id,
        "practitioner_id": practitioner_id,
        "from": window[0].isoformat() if window else None,
        "to": window[1].isoformat() if window else None,
    }
    return {k: v for k, v in params.items() if v is not None}


def booking_url(
    tenant: Tenant, rx: Prescription, practitioner_id: uuid.UUID | None, today: dt.date
) -> str:
    """The portal booking page pre-filtered to this follow-up (the slots API's query)."""
    params = {**_link_params(rx, practitioner_id, today), "follow_up": rx.id}
    return current_app.config["SIMILIA"].public_url(tenant.slug, "/book?" + urlencode(params))


def slots_url(rx: Prescription, practitioner_id: uuid.UUID | None, today: dt.date) -> str | None:
    """The slots API query for this follow-up (needs the follow-up visit type and window)."""
    if rx.follow_up_service_id is None or link_window(rx, today) is None:
        return None
    return "/api/v1/slots?" + urlencode(_link_params(rx, practitioner_id, today))


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
    today = today or clinic_today(tenant)
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
    practitioners = practitioner_ids_for_users(sess, tenant, names)
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
            "booking_url": booking_url(tenant, rx, practitioners.get(rx.practitioner_id), today),
            "slots_url": slots_url(rx, practitioners.get(rx.practitioner_id), today),
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
        raise Invalid({"prescription": "This prescription has no follow-up window."})
    if rx.recall_closed_at is not None:
        raise Conflict({"prescription": "Already closed."})
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


def invitation_text(
    clinic: str, name: str, practitioner: str | None, start, end, link: str
) -> tuple[str, str]:
    """Subject and body of a follow-up invitation, in the current language.

    Shared by the email and the console's template preview.
    """
    window = {"start": languages.date(start), "end": languages.date(end)}
    if practitioner:
        wanted = gettext(
            "Your practitioner would like to see you for a follow-up with %(practitioner)s "
            "between %(start)s and %(end)s.",
            practitioner=practitioner,
            **window,
        )
    else:
        wanted = gettext(
            "Your practitioner would like to see you for a follow-up between %(start)s "
            "and %(end)s.",
            **window,
        )
    subject = gettext("Time to book your follow-up at %(clinic)s", clinic=clinic)
    body = gettext(
        "Hello %(name)s,\n\n%(wanted)s\nBook a time that suits you:\n%(link)s\n\n"
        "You receive this because you agreed to appointment reminders by email; you can "
        "withdraw that on the portal.\n",
        name=name,
        wanted=wanted,
        link=link,
    )
    return subject, body


def _emit_invitation(
    sess: Session, tenant: Tenant, rx: Prescription, patient: Patient, practitioners: dict, today
) -> None:
    """The follow-up invitation email, through the outbox (no clinical content)."""
    practitioner = sess.get(User, (tenant.id, rx.practitioner_id)) if rx.practitioner_id else None
    link = booking_url(tenant, rx, practitioners.get(rx.practitioner_id), today)
    with languages.force_locale(languages.patient_language(tenant, patient)):
        subject, body = invitation_text(
            tenant.name,
            patient.full_name,
            practitioner.name if practitioner else None,
            rx.follow_up_from,
            rx.follow_up_to,
            link,
        )
    outbox.emit(
        sess,
        tenant.id,
        "email.follow_up_invitation",
        {
            "to": read_sealed(sess, patient, "email"),
            "subject": subject,
            "body": body,
            "patient_id": str(patient.id),
        },
    )


def invite_follow_up(sess: Session, tenant: Tenant, actor: User, rx: Prescription) -> None:
    """Send one follow-up invitation now (staff, from the recall list), through the outbox.

    The same email as the daily job's, with the same conditions: an open recall, a patient
    with an email and a standing ``reminders_email`` consent. Sending again is allowed (the
    patient may have lost the first); each send is audited.
    """
    today = clinic_today(tenant)
    row = sess.execute(_open_recalls(tenant).where(Prescription.id == rx.id)).first()
    if row is None:
        raise Conflict({"prescription": "This follow-up is no longer on the recall list."})
    patient = row[1]
    if patient.email is None:
        raise Invalid({"patient": "The patient has no email address; call them instead."})
    if not has_consent(sess, tenant.id, patient.id, "reminders_email"):
        raise Invalid({"patient": "The patient has not agreed to reminders by email."})
    practitioners = practitioner_ids_for_users(sess, tenant, {rx.practitioner_id})
    _emit_invitation(sess, tenant, rx, patient, practitioners, today)
    rx.invited_at = utcnow()
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "recall.invited",
        actor=actor,
        target=f"patient:{patient.id}",
        data={"prescription_id": str(rx.id), "by": "staff"},
    )


def invite_due_follow_ups(sess: Session, tenant: Tenant, *, today: dt.date | None = None) -> int:
    """Email each patient whose follow-up window opens within the lead time (once)."""
    today = today or clinic_today(tenant)
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
    practitioners = practitioner_ids_for_users(sess, tenant, {r[0].practitioner_id for r in rows})
    sent = 0
    for rx, patient, _ in rows:
        if patient.email is None or not has_consent(sess, tenant.id, patient.id, "reminders_email"):
            continue
        _emit_invitation(sess, tenant, rx, patient, practitioners, today)
        rx.invited_at = utcnow()
        audit.record(
            sess,
            tenant.id,
            "recall.invited",
            target=f"patient:{patient.id}",
            data={"prescription_id": str(rx.id)},
        )
        sent += 1
    sess.flush()
    return sent
