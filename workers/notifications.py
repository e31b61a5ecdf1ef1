"""Patient notifications for scheduling events, delivered by the outbox relay.

Outbox payloads carry visit details but never contact data; the address is looked up (and
decrypted with the clinic's key) only at send time, so an erased patient gets nothing and
no email address sits in the outbox. These are transactional messages about a booking the
patient made or holds, so they do not depend on reminder or marketing consent.

This module decides whether and to whom a message goes; how it reads (subjects, texts,
HTML in the clinic's branding, the SMS text) is :mod:`saas.notify_render`, shared with the
console's template preview. Its names are re-exported here for the outbox relay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app

from saas import languages
from saas.mail import Attachment
from saas.models import OutboxMessage, Tenant, utcnow
from saas.notify_render import (  # noqa: F401 - the rendering, re-exported for callers
    ACTIONS,
    ALERT_SUBJECTS,
    CALENDAR_TOPICS,
    TOPICS,
    _lines,
    _policy,
    _price,
    _when,
    _where,
    action_link,
    agenda_message,
    alert_message,
    branding,
    compose,
    ics_for,
    patient_message,
    plain_html,
    render_html,
    sms_reminder_text,
)
from saas.patients import get_patient_in_tenant, read_sealed
from saas.records.consents import has_consent
from saas.scheduling import reminders


@dataclass(frozen=True)
class Email:
    """A composed email, ready to send outside any transaction."""

    to: str
    subject: str
    body: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


def _staff_address(sess, tenant: Tenant, practitioner_id: str, wanted: str):
    """The practitioner and the email of their staff account, or the reason for none."""
    from saas.models import User
    from saas.scheduling.queries import get_practitioner_in_tenant

    pr = get_practitioner_in_tenant(sess, tenant.id, uuid.UUID(practitioner_id))
    if pr is None or not pr.is_active:
        return None, "practitioner archived"
    if not getattr(pr, wanted):
        return None, "turned off by the practitioner"
    user = sess.get(User, (tenant.id, pr.user_id)) if pr.user_id else None
    if user is None or not user.is_active:
        return None, "no staff account"
    return pr, user.email


def prepare_alert(sess, tenant: Tenant, msg: OutboxMessage) -> Email | str:
    """A practitioner's alert of a booking, cancellation or reschedule on their calendar."""
    p = msg.payload
    pr, address = _staff_address(sess, tenant, p["practitioner_id"], "alerts_enabled")
    if pr is None:
        return address
    patient = get_patient_in_tenant(sess, tenant, uuid.UUID(p["patient_id"]))
    who = patient.full_name if patient is not None and patient.status != "erased" else "A patient"
    cfg = current_app.config["SIMILIA"]
    link = cfg.public_url(tenant.slug, f"/console/calendar/appointments/{p['appointment_id']}")
    site = cfg.public_url(tenant.slug, "/console")
    m = alert_message(tenant, p, practitioner=pr.display_name, who=who, link=link, site=site)
    return Email(address, m.subject, m.body, m.html)


def prepare_agenda(sess, tenant: Tenant, msg: OutboxMessage) -> Email | str:
    """A practitioner's agenda of one day (their visits, in the clinic's local time)."""
    from saas.scheduling import agenda

    p = msg.payload
    pr, address = _staff_address(sess, tenant, p["practitioner_id"], "daily_agenda")
    if pr is None:
        return address
    reason = agenda.agenda_skip(p, utcnow())
    if reason:
        return reason
    visits = agenda.visits_of_day(sess, tenant, pr.id, p["date"], p["timezone"])
    lines = []
    for v in visits:
        patient = get_patient_in_tenant(sess, tenant, v.patient_id)
        who = patient.full_name if patient is not None and patient.status != "erased" else "-"
        local = v.start_at.astimezone(ZoneInfo(p["timezone"]))
        lines.append(f"{local:%H:%M} {v.service_name} - {who}")
    link = current_app.config["SIMILIA"].public_url(tenant.slug, "/console/day")
    m = agenda_message(tenant, p, practitioner=pr.display_name, lines=lines, link=link)
    return Email(address, m.subject, m.body, m.html)


@dataclass(frozen=True)
class Sms:
    """A composed text message, ready to send outside any transaction."""

    to: str
    body: str


def prepare_sms(sess, tenant: Tenant, patient, p: dict) -> Sms | str:
    """The reminder as a text, or why none is sent (texts off, no phone number)."""
    cfg = current_app.config["SIMILIA"]
    if cfg.sms_provider == "off":
        return "texts off"
    phone = read_sealed(sess, patient, "phone")
    phone = "".join(phone.split()) if phone else ""
    if not phone:
        return "no phone"
    from billing.limits import sms_allowance  # the plan's monthly limit on texts

    if sms_allowance(sess, tenant.id).exhausted:
        return "text limit of the plan reached"
    link = cfg.public_url(tenant.slug, f"/appointments/{p['appointment_id']}")
    return Sms(phone, sms_reminder_text(p, tenant.name, link))


def prepare(sess, msg: OutboxMessage) -> Email | Sms | str:
    """The email for ``msg``, or the reason nothing is sent (the message is then skipped)."""
    p = msg.payload
    tenant = sess.get(Tenant, msg.tenant_id)
    if msg.topic == "practitioner.alert":
        return prepare_alert(sess, tenant, msg)
    if msg.topic == "practitioner.agenda":
        return prepare_agenda(sess, tenant, msg)
    patient = get_patient_in_tenant(sess, tenant, uuid.UUID(p["patient_id"]))
    if patient is None or patient.status == "erased":
        return "erased patient"
    if patient.status != "active":
        return "patient not active"
    if msg.topic == reminders.TOPIC:
        channel = p.get("channel", "email")
        reason = reminders.reminder_skip(sess, tenant, p, utcnow())
        if reason is None and not has_consent(sess, tenant.id, patient.id, f"reminders_{channel}"):
            reason = "no consent"
        if reason:
            return reason
        if channel == "sms":
            with languages.force_locale(languages.patient_language(tenant, patient)):
                return prepare_sms(sess, tenant, patient, p)
    with languages.force_locale(languages.patient_language(tenant, patient)):
        cfg = current_app.config["SIMILIA"]
        site = cfg.public_url(tenant.slug)
        url = lambda path: cfg.public_url(tenant.slug, path)  # noqa: E731
        m = patient_message(tenant, msg.topic, p, name=patient.full_name, site=site, url=url)
        if m is None:
            return "not sent to patients"
        email = read_sealed(sess, patient, "email")
        if not email:
            return "no address"
        attachments = ()
        if msg.topic in CALENDAR_TOPICS:
            # a later message of the visit carries a higher sequence (its creation time)
            sequence = int(msg.created_at.timestamp()) - 1_700_000_000 if msg.created_at else 0
            attachments = (ics_for(p, cfg.base_domain, max(sequence, 0)),)
        return Email(email, m.subject, m.body, m.html, attachments)


def plain_email(sess, msg: OutboxMessage) -> Email:
    """An ``email.*`` message (sign-in link, export ready...).

    Its text as written, and the same text as HTML in the clinic's branding (links
    clickable).
    """
    p = msg.payload
    tenant = sess.get(Tenant, msg.tenant_id)
    if tenant is None:
        return Email(p["to"], p["subject"], p["body"])
    site = current_app.config["SIMILIA"].public_url(tenant.slug)
    html = plain_html(tenant, msg.topic, p["subject"], p["body"], site=site)
    return Email(p["to"], p["subject"], p["body"], html)
