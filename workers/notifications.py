"""Patient notifications for scheduling events, delivered by the outbox relay.

Outbox payloads carry visit details but never contact data; the address is looked up (and
decrypted with the clinic's key) only at send time, so an erased patient gets nothing and
no email address sits in the outbox. These are transactional messages about a booking the
patient made or holds, so they do not depend on reminder or marketing consent.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import jinja2
from babel.numbers import format_currency
from flask import current_app
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from saas import languages
from saas.mail import Attachment
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
    "practitioner.alert",
    "practitioner.agenda",
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
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_URL = re.compile(r"https?://[^\s<>\"']+")


def _lines(text: str) -> Markup:
    """Plain text as HTML: escaped, line breaks kept, web addresses made links."""

    def line(x: str) -> Markup:
        out, pos = Markup(""), 0
        for m in _URL.finditer(x):
            out += escape(x[pos : m.start()]) + Markup('<a href="{0}">{0}</a>').format(m.group())
            pos = m.end()
        return out + escape(x[pos:])

    return Markup("<br>").join(line(x) for x in text.split("\n"))


_env.filters["lines"] = _lines
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def branding(tenant: Tenant) -> dict:
    """The clinic's name and colours for an email (each colour re-checked, else the default)."""
    # the stored values, each re-checked: workers do not load the clinic settings' sections
    values = (tenant.settings or {}).get("branding") or {}
    brand, accent = values.get("brand_color", ""), values.get("accent_color", "")
    return {
        "clinic": tenant.name,
        "brand": brand if _COLOR.match(brand or "") else "#2f6f5e",
        "accent": accent if _COLOR.match(accent or "") else "#1f5c4d",
        "lang": values.get("language") or "en",
    }


def render_html(
    tenant: Tenant,
    topic: str,
    subject: str,
    text: str,
    *,
    site: str,
    greeting: str = "",
    action: tuple[str, str] | None = None,
) -> str:
    """The HTML body in the clinic's branding.

    From the topic's template (``templates/email/<topic>.html``, else the base); ``text``
    is split into paragraphs at blank lines.
    """
    try:
        template = _env.get_template(f"{topic}.html")
    except jinja2.TemplateNotFound:
        template = _env.get_template("base.html")
    paragraphs = [p.strip("\n") for p in text.split("\n\n") if p.strip()]
    return template.render(
        **branding(tenant),
        subject=subject,
        greeting=greeting,
        paragraphs=paragraphs,
        action={"label": action[0], "url": action[1]} if action else None,
        site=site,
    )


#: Topics whose email carries the visit as an ``.ics`` (a calendar adds or updates it).
CALENDAR_TOPICS = ("appointment.confirmed", "appointment.rescheduled")


def ics_for(p: dict, host: str, sequence: int = 0) -> Attachment:
    """The visit as an iCalendar event (``METHOD:PUBLISH``).

    The same UID on every message of the visit, so a reschedule (higher ``SEQUENCE``)
    moves the event already imported.
    """
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Similia//appointments//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    ev = icalendar.Event()
    ev.add("uid", f"{p['appointment_id']}@{host}")
    ev.add("dtstamp", dt.datetime.now(dt.UTC))
    ev.add("dtstart", dt.datetime.fromisoformat(p["start"]).astimezone(dt.UTC))
    end = p.get("end")
    if end:
        ev.add("dtend", dt.datetime.fromisoformat(end).astimezone(dt.UTC))
    ev.add("summary", f"{p['service']} with {p['practitioner']}")
    ev.add("location", _where(p))
    ev.add("sequence", sequence)
    ev.add("status", "CONFIRMED")
    cal.add_component(ev)
    return Attachment("visit.ics", "text/calendar", cal.to_ical(), (("method", "PUBLISH"),))


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


ALERT_SUBJECTS = {
    "appointment.confirmed": ("New booking", "booked"),
    "appointment.cancelled": ("Cancelled", "cancelled"),
    "appointment.rescheduled": ("Moved", "moved"),
}


def prepare_alert(sess, tenant: Tenant, msg: OutboxMessage) -> Email | str:
    """A practitioner's alert of a booking, cancellation or reschedule on their calendar."""
    p = msg.payload
    pr, address = _staff_address(sess, tenant, p["practitioner_id"], "alerts_enabled")
    if pr is None:
        return address
    patient = get_patient_in_tenant(sess, tenant, uuid.UUID(p["patient_id"]))
    who = patient.full_name if patient is not None and patient.status != "erased" else "A patient"
    label, verb = ALERT_SUBJECTS[p["event"]]
    when = f"{_when(p['start'])} ({p['timezone']})"
    text = f"{who} {verb} {p['service']}.\n\n{when}\n{_where(p)}\n"
    if p["event"] == "appointment.rescheduled" and p.get("old_start"):
        text += f"Previously: {_when(p['old_start'])}\n"
    cfg = current_app.config["SIMILIA"]
    link = cfg.public_url(tenant.slug, f"/console/calendar/appointments/{p['appointment_id']}")
    subject = f"{label}: {p['service']} on {_when(p['start'])}"
    greeting = f"Hello {pr.display_name},"
    body = f"{greeting}\n\n{text}\nOpen it in the console:\n{link}\n\n{tenant.name}\n"
    site = cfg.public_url(tenant.slug, "/console")
    html = render_html(
        tenant,
        msg.topic,
        subject,
        text,
        site=site,
        greeting=greeting,
        action=("Open it in the console", link),
    )
    return Email(address, subject, body, html)


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
    day = dt.date.fromisoformat(p["date"]).strftime("%A %d %B %Y")
    lines = []
    for v in visits:
        patient = get_patient_in_tenant(sess, tenant, v.patient_id)
        who = patient.full_name if patient is not None and patient.status != "erased" else "-"
        local = v.start_at.astimezone(ZoneInfo(p["timezone"]))
        lines.append(f"{local:%H:%M} {v.service_name} - {who}")
    listing = "\n".join(lines) if lines else "No visits booked."
    text = f"Your visits on {day} ({p['timezone']}):\n\n{listing}\n"
    cfg = current_app.config["SIMILIA"]
    link = cfg.public_url(tenant.slug, "/console/day")
    subject = f"Your day: {day} ({len(visits)} visit{'s' if len(visits) != 1 else ''})"
    greeting = f"Hello {pr.display_name},"
    body = f"{greeting}\n\n{text}\nThe day in the console:\n{link}\n\n{tenant.name}\n"
    html = render_html(
        tenant,
        msg.topic,
        subject,
        text,
        site=link,
        greeting=greeting,
        action=("The day in the console", link),
    )
    return Email(address, subject, body, html)


@dataclass(frozen=True)
class Sms:
    """A composed text message, ready to send outside any transaction."""

    to: str
    body: str


def sms_reminder_text(p: dict, clinic: str, link: str) -> str:
    """A reminder short enough for one or two segments: the visit, the policy, the link."""
    return (
        f"{clinic}: reminder of {p['service']} with {p['practitioner']}, "
        f"{_when(p['start'])} ({p['timezone']}). {_policy(p)} Move or cancel: {link}"
    )


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
            return prepare_sms(sess, tenant, patient, p)
    with languages.force_locale(languages.patient_language(tenant, patient)):
        message = compose(msg.topic, p, tenant.name)
        if message is None:
            return "not sent to patients"
        email = read_sealed(sess, patient, "email")
        if not email:
            return "no address"
        cfg = current_app.config["SIMILIA"]
        subject, text = message
        site = cfg.public_url(tenant.slug)
        url = lambda path: cfg.public_url(tenant.slug, path)  # noqa: E731
        greeting = gettext("Hello %(name)s,", name=patient.full_name)
        body = f"{greeting}\n\n{text}{action_link(msg.topic, p, url)}\n{tenant.name}\n{site}\n"
        action = None
        if msg.topic in ACTIONS:
            sentence, path = ACTIONS[msg.topic]
            action = (sentence.rstrip(":"), url(path.format(**p)))
        html = render_html(
            tenant, msg.topic, subject, text, site=site, greeting=greeting, action=action
        )
        attachments = ()
        if msg.topic in CALENDAR_TOPICS:
            # a later message of the visit carries a higher sequence (its creation time)
            sequence = int(msg.created_at.timestamp()) - 1_700_000_000 if msg.created_at else 0
            attachments = (ics_for(p, cfg.base_domain, max(sequence, 0)),)
        return Email(email, subject, body, html, attachments)


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
    html = render_html(tenant, msg.topic, p["subject"], p["body"], site=site)
    return Email(p["to"], p["subject"], p["body"], html)
