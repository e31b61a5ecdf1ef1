"""How every message to patients and practitioners reads: subjects, texts, HTML, texts for SMS.

Pure rendering, no database and no delivery: the outbox worker
(:mod:`workers.notifications`) looks up the patient, the address and the consent, then
calls these functions; the console's template preview (``/console/practice/messages``)
calls the very same functions with a sample visit, so a preview can never drift from what
is sent. The HTML templates live in ``saas/templates/email/`` (one per topic, else
``base.html``), read by this module's own Jinja environment, so the web app and the
workers (which boot without the web app) find them alike.

Texts for patients are written in the current language (call inside
:func:`saas.languages.force_locale`); texts for staff are English, like the console.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import icalendar
import jinja2
from babel.numbers import format_currency
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from saas import languages
from saas.mail import Attachment
from saas.money import format_price

#: Topics of the messages composed here (``email.*`` messages carry their own text).
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

#: Where the HTML templates of messages live.
TEMPLATES = Path(__file__).parent / "templates" / "email"


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


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    auto_reload=False,  # the templates ship with the code: no file check per message
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    extensions=["jinja2.ext.i18n"],
)
# headings in the current language, from the portal's catalogue like the texts
_env.install_gettext_callables(gettext, ngettext, newstyle=True)
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


def branding(tenant) -> dict:
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
    tenant,
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


@dataclass(frozen=True)
class Message:
    """A message as the recipient reads it: subject, plain text and HTML (no address)."""

    subject: str
    body: str
    html: str


def patient_message(tenant, topic: str, p: dict, *, name: str, site: str, url) -> Message | None:
    """The email to patient ``name`` for ``topic`` in the current language (None: not sent).

    ``site`` is the clinic's portal; ``url(path)`` makes an address on it.
    """
    message = compose(topic, p, tenant.name)
    if message is None:
        return None
    subject, text = message
    greeting = gettext("Hello %(name)s,", name=name)
    body = f"{greeting}\n\n{text}{action_link(topic, p, url)}\n{tenant.name}\n{site}\n"
    action = None
    if topic in ACTIONS:
        sentence, path = ACTIONS[topic]
        action = (sentence.rstrip(":"), url(path.format(**p)))
    html = render_html(tenant, topic, subject, text, site=site, greeting=greeting, action=action)
    return Message(subject, body, html)


def plain_html(tenant, topic: str, subject: str, body: str, *, site: str) -> str:
    """An ``email.*`` message's text as HTML in the clinic's branding (links clickable)."""
    return render_html(tenant, topic, subject, body, site=site)


ALERT_SUBJECTS = {
    "appointment.confirmed": ("New booking", "booked"),
    "appointment.cancelled": ("Cancelled", "cancelled"),
    "appointment.rescheduled": ("Moved", "moved"),
}


def alert_message(tenant, p: dict, *, practitioner: str, who: str, link: str, site: str) -> Message:
    """A practitioner's alert of a booking, cancellation or reschedule (``p["event"]``)."""
    label, verb = ALERT_SUBJECTS[p["event"]]
    when = f"{_when(p['start'])} ({p['timezone']})"
    text = f"{who} {verb} {p['service']}.\n\n{when}\n{_where(p)}\n"
    if p["event"] == "appointment.rescheduled" and p.get("old_start"):
        text += f"Previously: {_when(p['old_start'])}\n"
    subject = f"{label}: {p['service']} on {_when(p['start'])}"
    greeting = f"Hello {practitioner},"
    body = f"{greeting}\n\n{text}\nOpen it in the console:\n{link}\n\n{tenant.name}\n"
    html = render_html(
        tenant,
        "practitioner.alert",
        subject,
        text,
        site=site,
        greeting=greeting,
        action=("Open it in the console", link),
    )
    return Message(subject, body, html)


def agenda_message(tenant, p: dict, *, practitioner: str, lines: list[str], link: str) -> Message:
    """A practitioner's agenda of the day ``p["date"]``: one line per visit, local times."""
    day = dt.date.fromisoformat(p["date"]).strftime("%A %d %B %Y")
    listing = "\n".join(lines) if lines else "No visits booked."
    text = f"Your visits on {day} ({p['timezone']}):\n\n{listing}\n"
    count = len(lines)
    subject = f"Your day: {day} ({count} visit{'s' if count != 1 else ''})"
    greeting = f"Hello {practitioner},"
    body = f"{greeting}\n\n{text}\nThe day in the console:\n{link}\n\n{tenant.name}\n"
    html = render_html(
        tenant,
        "practitioner.agenda",
        subject,
        text,
        site=link,
        greeting=greeting,
        action=("The day in the console", link),
    )
    return Message(subject, body, html)


def sms_reminder_text(p: dict, clinic: str, link: str) -> str:
    """A reminder short enough for a few segments: the visit, the policy, the link.

    In the current language (the caller forces the patient's, as for their emails).
    """
    return gettext(
        "%(clinic)s: reminder of %(service)s with %(practitioner)s, %(when)s (%(zone)s)."
        " %(policy)s Move or cancel: %(link)s",
        clinic=clinic,
        service=p["service"],
        practitioner=p["practitioner"],
        when=_when(p["start"]),
        zone=p["timezone"],
        policy=_policy(p),
        link=link,
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
