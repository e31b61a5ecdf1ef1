"""Patient notifications for scheduling events, delivered by the outbox relay.

Outbox payloads carry visit details but never contact data; the address is looked up (and
decrypted with the clinic's key) only at send time, so an erased patient gets nothing and
no email address sits in the outbox. These are transactional messages about a booking the
patient made or holds, so they do not depend on reminder or marketing consent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flask import current_app

from saas.models import OutboxMessage, Tenant, utcnow
from saas.money import format_price
from saas.patients import get_patient_in_tenant, read_sealed
from saas.records.consents import has_consent
from saas.scheduling import reminders

TOPICS = (
    "appointment.confirmed",
    "appointment.held",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.hold_expired",
    "appointment.no_show",
    "appointment.completed",
    "appointment.reminder",
    "waitlist.offer",
    "payment.receipt",
)


def _when(iso: str) -> str:
    start = dt.datetime.fromisoformat(iso)
    return start.strftime("%A %d %B %Y, %H:%M")


def _where(p: dict) -> str:
    if p.get("location_kind") == "online":
        return f"{p['location']} (online; the clinic sends the video link)"
    return f"{p['location']}, {p['address']}" if p.get("address") else p["location"]


def _policy(p: dict) -> str:
    """The clinic's cancellation policy for the visit, in one sentence or two."""
    hours = p.get("cancellation_cutoff_minutes", 0) / 60
    if not hours:
        return "You can cancel or move this visit until it starts."
    notice = f"{hours:g} hour{'s' if hours != 1 else ''}"
    text = f"Please cancel or move this visit at least {notice} before it starts."
    if p.get("fee_minor"):
        text += f" Later cancellations cost {format_price(p['fee_minor'], p['currency'])}."
    return text


def compose(topic: str, p: dict, clinic: str) -> tuple[str, str] | None:
    """Subject and body for one event, or None when patients are not told about it."""
    visit = f"{p['service']} with {p['practitioner']}"
    when = f"{_when(p['start'])} ({p['timezone']})"
    if topic == "appointment.confirmed":
        return (
            f"Confirmed: {p['service']} on {_when(p['start'])}",
            f"Your consultation is booked.\n\n{visit}\n{when}\n{_where(p)}\n",
        )
    if topic == "appointment.held":
        return (
            f"Please complete your booking at {clinic}",
            f"We are holding this time for you until payment:\n\n{visit}\n{when}\n{_where(p)}\n"
            f"\nThe hold ends at {_when(p['hold_expires_at'])} UTC if it is not paid.\n",
        )
    if topic == "appointment.rescheduled":
        return (
            f"Moved: {p['service']} is now on {_when(p['start'])}",
            f"Your consultation has a new time.\n\n{visit}\nNew time: {when}\n"
            f"Previously: {_when(p['old_start'])}\n{_where(p)}\n",
        )
    if topic == "appointment.cancelled":
        fee = ""
        if p.get("late_cancellation") and p.get("fee_minor"):
            amount = format_price(p["fee_minor"], p["currency"])
            fee = f"\nA late-cancellation fee of {amount} applies.\n"
        return (
            f"Cancelled: {p['service']} on {_when(p['start'])}",
            f"This consultation is cancelled.\n\n{visit}\n{when}\n{fee}",
        )
    if topic == "appointment.hold_expired":
        return (
            f"Not booked: {p['service']} on {_when(p['start'])}",
            f"The time we held for you was not paid in time, so it is free again.\n\n"
            f"{visit}\n{when}\n",
        )
    if topic == "appointment.no_show":
        fee = ""
        if p.get("fee_minor"):
            fee = f"\nA missed-appointment fee of {format_price(p['fee_minor'], p['currency'])}"
            " applies.\n"
        return (
            f"Missed: {p['service']} on {_when(p['start'])}",
            f"We missed you at this consultation.\n\n{visit}\n{when}\n{fee}",
        )
    if topic == "appointment.reminder":
        return (
            f"Reminder: {p['service']} on {_when(p['start'])}",
            f"A reminder of your consultation.\n\n{visit}\n{when}\n{_where(p)}\n\n{_policy(p)}\n",
        )
    if topic == "payment.receipt":
        what = "deposit for" if p.get("kind") == "deposit" else "payment for"
        amount = format_price(p["amount_minor"], p["currency"])
        return (
            f"Receipt: {amount} for {p['service']} on {_when(p['start'])}",
            f"Thank you: we received your {what} this consultation.\n\n{visit}\n{when}\n"
            f"Amount paid: {amount}\nPaid on: {_when(p['paid_at'])} UTC\n",
        )
    if topic == "waitlist.offer":
        return (
            f"A time is free at {clinic}: {p['service']}",
            f"A time you were waiting for has become free:\n\n{visit}\n"
            f"{_when(p['start'])} ({p.get('timezone', '')})\n{p['location']}\n\n"
            "The first to book gets it.\n",
        )
    return None


#: The portal page each message links to: (sentence, path pattern filled from the payload).
ACTIONS = {
    "appointment.confirmed": ("See, move or cancel your visit:", "/appointments/{appointment_id}"),
    "appointment.held": ("See your visit:", "/appointments/{appointment_id}"),
    "appointment.rescheduled": (
        "See, move or cancel your visit:",
        "/appointments/{appointment_id}",
    ),
    "appointment.cancelled": ("Book another time:", "/book"),
    "appointment.hold_expired": ("Book another time:", "/book"),
    "appointment.no_show": ("Book another time:", "/book"),
    "appointment.reminder": ("See, move or cancel your visit:", "/appointments/{appointment_id}"),
    "waitlist.offer": ("Book this time:", "/book/offer/{offer_id}"),
    "payment.receipt": ("Your receipt:", "/appointments/{appointment_id}/receipt"),
}


def action_link(topic: str, p: dict, url) -> str:
    """The sentence and portal link for ``topic`` (empty when it has none)."""
    if topic not in ACTIONS:
        return ""
    sentence, path = ACTIONS[topic]
    return f"\n{sentence}\n{url(path.format(**p))}\n"


@dataclass(frozen=True)
class Email:
    """A composed email, ready to send outside any transaction."""

    to: str
    subject: str
    body: str


def prepare(sess, msg: OutboxMessage) -> Email | str:
    """The email for ``msg``, or the reason nothing is sent (the message is then skipped)."""
    p = msg.payload
    tenant = sess.get(Tenant, msg.tenant_id)
    patient = get_patient_in_tenant(sess, tenant, uuid.UUID(p["patient_id"]))
    if patient is None or patient.status == "erased":
        return "erased patient"
    if patient.status != "active":
        return "patient not active"
    if msg.topic == reminders.TOPIC:
        reason = reminders.reminder_skip(sess, tenant, p, utcnow())
        if reason is None and not has_consent(sess, tenant.id, patient.id, "reminders_email"):
            reason = "no consent"
        if reason:
            return reason
    message = compose(msg.topic, p, tenant.name)
    if message is None:
        return "not sent to patients"
    email = read_sealed(sess, patient, "email")
    if not email:
        return "no address"
    cfg = current_app.config["SIMILIA"]
    subject, body = message
    body += action_link(msg.topic, p, lambda path: cfg.public_url(tenant.slug, path))
    body = f"Hello {patient.full_name},\n\n{body}\n{tenant.name}\n{cfg.public_url(tenant.slug)}\n"
    return Email(email, subject, body)
