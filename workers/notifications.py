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

from babel.numbers import format_currency
from flask import current_app
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

from saas import languages
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
    return languages.when(dt.datetime.fromisoformat(iso))


def _price(minor: int, currency: str) -> str:
    if languages.current() == "en":
        return format_price(minor, currency)
    return format_currency(minor / 100, currency, locale="de_DE")


def _where(p: dict) -> str:
    if p.get("location_kind") == "online":
        return gettext(
            "%(location)s (online; the clinic sends the video link)", location=p["location"]
        )
    return f"{p['location']}, {p['address']}" if p.get("address") else p["location"]


def _policy(p: dict) -> str:
    """The clinic's cancellation policy for the visit, in one sentence or two."""
    minutes = p.get("cancellation_cutoff_minutes", 0)
    if not minutes:
        return gettext("You can cancel or move this visit until it starts.")
    hours = minutes / 60
    shown = f"{hours:g}"
    count = int(hours) if hours == int(hours) else 2  # plural forms count whole numbers
    notice = ngettext("%(hours)s hour", "%(hours)s hours", count, hours=shown)
    text = gettext(
        "Please cancel or move this visit at least %(notice)s before it starts.", notice=notice
    )
    if p.get("fee_minor"):
        text += " " + gettext(
            "Later cancellations cost %(fee)s.", fee=_price(p["fee_minor"], p["currency"])
        )
    return text


def compose(topic: str, p: dict, clinic: str) -> tuple[str, str] | None:
    """Subject and body for one event in the current language, or None when not sent."""
    visit = gettext(
        "%(service)s with %(practitioner)s", service=p["service"], practitioner=p["practitioner"]
    )
    when = f"{_when(p['start'])} ({p['timezone']})"
    names = {"service": p["service"], "start": _when(p["start"])}
    if topic == "appointment.confirmed":
        return (
            gettext("Confirmed: %(service)s on %(start)s", **names),
            gettext("Your consultation is booked.") + f"\n\n{visit}\n{when}\n{_where(p)}\n",
        )
    if topic == "appointment.held":
        return (
            gettext("Please complete your booking at %(clinic)s", clinic=clinic),
            gettext("We are holding this time for you until payment:")
            + f"\n\n{visit}\n{when}\n{_where(p)}\n\n"
            + gettext(
                "The hold ends at %(end)s UTC if it is not paid.", end=_when(p["hold_expires_at"])
            )
            + "\n",
        )
    if topic == "appointment.rescheduled":
        return (
            gettext("Moved: %(service)s is now on %(start)s", **names),
            gettext("Your consultation has a new time.")
            + f"\n\n{visit}\n"
            + gettext("New time: %(when)s", when=when)
            + "\n"
            + gettext("Previously: %(when)s", when=_when(p["old_start"]))
            + f"\n{_where(p)}\n",
        )
    if topic == "appointment.cancelled":
        fee = ""
        if p.get("late_cancellation") and p.get("fee_minor"):
            amount = _price(p["fee_minor"], p["currency"])
            fee = "\n" + gettext("A late-cancellation fee of %(fee)s applies.", fee=amount) + "\n"
        return (
            gettext("Cancelled: %(service)s on %(start)s", **names),
            gettext("This consultation is cancelled.") + f"\n\n{visit}\n{when}\n{fee}",
        )
    if topic == "appointment.hold_expired":
        return (
            gettext("Not booked: %(service)s on %(start)s", **names),
            gettext("The time we held for you was not paid in time, so it is free again.")
            + f"\n\n{visit}\n{when}\n",
        )
    if topic == "appointment.no_show":
        fee = ""
        if p.get("fee_minor"):
            amount = _price(p["fee_minor"], p["currency"])
            fee = "\n" + gettext("A missed-appointment fee of %(fee)s applies.", fee=amount) + "\n"
        return (
            gettext("Missed: %(service)s on %(start)s", **names),
            gettext("We missed you at this consultation.") + f"\n\n{visit}\n{when}\n{fee}",
        )
    if topic == "appointment.reminder":
        return (
            gettext("Reminder: %(service)s on %(start)s", **names),
            gettext("A reminder of your consultation.")
            + f"\n\n{visit}\n{when}\n{_where(p)}\n\n{_policy(p)}\n",
        )
    if topic == "payment.receipt":
        amount = _price(p["amount_minor"], p["currency"])
        thanks = (
            gettext("Thank you: we received your deposit for this consultation.")
            if p.get("kind") == "deposit"
            else gettext("Thank you: we received your payment for this consultation.")
        )
        return (
            gettext(
                "Receipt: %(amount)s for %(service)s on %(start)s",
                amount=amount,
                service=p["service"],
                start=_when(p["start"]),
            ),
            thanks
            + f"\n\n{visit}\n{when}\n"
            + gettext("Amount paid: %(amount)s", amount=amount)
            + "\n"
            + gettext("Paid on: %(when)s UTC", when=_when(p["paid_at"]))
            + "\n",
        )
    if topic == "waitlist.offer":
        return (
            gettext(
                "A time is free at %(clinic)s: %(service)s", clinic=clinic, service=p["service"]
            ),
            gettext("A time you were waiting for has become free:")
            + f"\n\n{visit}\n{_when(p['start'])} ({p.get('timezone', '')})\n{p['location']}\n\n"
            + gettext("The first to book gets it.")
            + "\n",
        )
    return None


#: The portal page each message links to: (sentence, path pattern filled from the payload).
ACTIONS = {
    "appointment.confirmed": (
        _l("See, move or cancel your visit:"),
        "/appointments/{appointment_id}",
    ),
    "appointment.held": (_l("See your visit:"), "/appointments/{appointment_id}"),
    "appointment.rescheduled": (
        _l("See, move or cancel your visit:"),
        "/appointments/{appointment_id}",
    ),
    "appointment.cancelled": (_l("Book another time:"), "/book"),
    "appointment.hold_expired": (_l("Book another time:"), "/book"),
    "appointment.no_show": (_l("Book another time:"), "/book"),
    "appointment.reminder": (
        _l("See, move or cancel your visit:"),
        "/appointments/{appointment_id}",
    ),
    "waitlist.offer": (_l("Book this time:"), "/book/offer/{offer_id}"),
    "payment.receipt": (_l("Your receipt:"), "/appointments/{appointment_id}/receipt"),
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
    with languages.force_locale(languages.patient_language(tenant, patient)):
        message = compose(msg.topic, p, tenant.name)
        if message is None:
            return "not sent to patients"
        email = read_sealed(sess, patient, "email")
        if not email:
            return "no address"
        return _finish(tenant, patient, email, msg.topic, p, message)


def _finish(tenant, patient, email: str, topic: str, p: dict, message) -> Email:
    """The greeting, the portal link and the clinic's signature around ``message``."""
    cfg = current_app.config["SIMILIA"]
    subject, body = message
    body += action_link(topic, p, lambda path: cfg.public_url(tenant.slug, path))
    hello = gettext("Hello %(name)s,", name=patient.full_name)
    body = f"{hello}\n\n{body}\n{tenant.name}\n{cfg.public_url(tenant.slug)}\n"
    return Email(email, subject, body)
