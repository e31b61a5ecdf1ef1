"""What the clinic's messages look like: every message type, rendered for a sample visit.

The console's template preview (``/console/practice/messages``) shows, for each message
patients or practitioners get, the subject, the HTML in the clinic's branding, the plain
text and, for reminders, the SMS with its segment count. Everything is rendered by the
functions that render the real messages (:mod:`saas.notify_render`,
:func:`saas.records.followups.invitation_text`), so a preview never re-implements a rule.

Decisions:

- the sample is a fictional patient ("Alex Example") at a visit built from the clinic's own
  practice: the first active practitioner, visit type and location (by name), the booking
  rules in force for that visit type (its real cancellation notice and fee) and its price;
  whatever the practice lacks is a placeholder in square brackets, and the page says so;
- the visit is next Tuesday at 10:00 in the location's zone (the clinic's when none);
- a cancellation is shown as a late one when the policy charges a fee (the fee sentence is
  the part worth checking); a no-show carries the same fee, as :func:`mark_no_show` does;
- texts to staff (alerts, agenda) and SMS reminders are written in English whatever the
  patient's language, exactly as the workers send them, so their preview ignores the
  language chosen (the page says so);
- nothing is written, sent or audited: the preview reads only practice settings, never a
  patient, like the other settings pages (which audit changes, not views).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import languages, notify_render, sms
from saas.models import Tenant, utcnow
from saas.records.followups import invitation_text
from saas.scheduling.models import Location, Practitioner, VisitType
from saas.scheduling.rules import effective_rules

SAMPLE_PATIENT = "Alex Example"
#: A visit id that cannot exist: links in a preview lead nowhere real.
SAMPLE_ID = str(uuid.UUID(int=0))


@dataclass(frozen=True)
class Kind:
    """One message type: its key (outbox topic), name, recipient and when it goes."""

    key: str
    name: str
    to: str  #: "Patient" or "Practitioner"
    when: str


KINDS = (
    Kind(
        "appointment.confirmed",
        "Booking confirmed",
        "Patient",
        "A visit is booked (and paid, when payment is required).",
    ),
    Kind(
        "appointment.held",
        "Booking held, awaiting payment",
        "Patient",
        "A patient chose a time that must be paid online to be booked.",
    ),
    Kind(
        "appointment.rescheduled",
        "Appointment moved",
        "Patient",
        "A visit is moved to another time.",
    ),
    Kind(
        "appointment.cancelled",
        "Appointment cancelled",
        "Patient",
        "A visit is cancelled by the patient or the clinic.",
    ),
    Kind(
        "appointment.hold_expired",
        "Held booking lapsed",
        "Patient",
        "A held time was not paid in time and is free again.",
    ),
    Kind("appointment.no_show", "Missed appointment", "Patient", "Staff mark a visit as missed."),
    Kind(
        "appointment.reminder",
        "Reminder (email and SMS)",
        "Patient",
        "Before each visit, at your reminder times, to patients who agreed to reminders.",
    ),
    Kind(
        "waitlist.offer",
        "Waiting-list slot offered",
        "Patient",
        "A time frees up that a patient on the waiting list wanted.",
    ),
    Kind(
        "payment.receipt",
        "Payment receipt",
        "Patient",
        "An online payment or deposit for a visit is received.",
    ),
    Kind(
        "email.follow_up_invitation",
        "Follow-up invitation",
        "Patient",
        "A follow-up is due (daily, or when staff invite from the follow-up list), to patients "
        "who agreed to reminders by email.",
    ),
    Kind(
        "practitioner.alert",
        "Calendar alert",
        "Practitioner",
        "A visit on a practitioner's calendar is booked, moved or cancelled (if they want alerts).",
    ),
    Kind(
        "practitioner.agenda",
        "Daily agenda",
        "Practitioner",
        "At 06:00 clinic time, the day's visits (if the practitioner asked for it).",
    ),
)
BY_KEY = {k.key: k for k in KINDS}
#: Written in English whatever the patient's language (as the workers send them).
ENGLISH_ONLY = ("practitioner.alert", "practitioner.agenda")


@dataclass(frozen=True)
class Sample:
    """The sample visit's payload (as the outbox carries it) and what the practice lacks."""

    payload: dict
    practitioner: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """One message rendered for the sample visit."""

    kind: Kind
    lang: str
    subject: str
    body: str
    html: str
    sms: str | None = None
    segments: sms.Segments | None = None


def _first(sess: Session, model, tenant_id, order):
    return sess.scalars(
        select(model)
        .where(model.tenant_id == tenant_id, model.is_active.is_(True))
        .order_by(order)
        .limit(1)
    ).first()


def sample_visit(sess: Session, tenant: Tenant, now: dt.datetime | None = None) -> Sample:
    """A fictional visit at the clinic's first practitioner, visit type and location."""
    now = now or utcnow()
    pr = _first(sess, Practitioner, tenant.id, Practitioner.display_name)
    vt = _first(sess, VisitType, tenant.id, VisitType.name)
    loc = _first(sess, Location, tenant.id, Location.name)
    missing = tuple(
        name
        for name, row in (("practitioner", pr), ("visit type", vt), ("location", loc))
        if row is None
    )
    zone_name = loc.timezone if loc else tenant.timezone
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    days = (1 - today.weekday()) % 7 or 7  # next Tuesday
    start = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(10), tzinfo=zone)
    end = start + dt.timedelta(minutes=vt.duration_minutes if vt else 60)
    rules = effective_rules(sess, tenant.id, vt.id if vt else None)
    currency = vt.currency if vt else tenant.currency
    price = vt.price_minor if vt else 0
    fee = rules.late_cancellation_fee_minor
    payload = {
        "appointment_id": SAMPLE_ID,
        "patient_id": SAMPLE_ID,
        "status": "confirmed",
        "service": vt.name if vt else "[Visit type]",
        "practitioner": pr.display_name if pr else "[Practitioner]",
        "location": loc.name if loc else "[Location]",
        "location_kind": loc.kind if loc else "in_person",
        "address": loc.address if loc else None,
        "timezone": zone_name,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "old_start": (start - dt.timedelta(days=1, hours=1)).isoformat(),
        "hold_expires_at": (now + dt.timedelta(minutes=30)).astimezone(dt.UTC).isoformat(),
        "cancellation_cutoff_minutes": rules.cancellation_cutoff_minutes,
        "fee_minor": fee,
        "late_cancellation": bool(fee),
        "currency": currency,
        "price_minor": price,
        "amount_minor": price,
        "kind": "payment",
        "paid_at": now.astimezone(dt.UTC).isoformat(),
        "offer_id": SAMPLE_ID,
        "offset_minutes": 24 * 60,
        "event": "appointment.confirmed",
        "practitioner_id": str(pr.id) if pr else SAMPLE_ID,
        "date": start.date().isoformat(),
    }
    return Sample(payload, pr.display_name if pr else "[Practitioner]", missing)


def render(sess: Session, tenant: Tenant, key: str, lang: str) -> Preview:
    """``key``'s message for the sample visit in ``lang`` (a key of :data:`BY_KEY`)."""
    kind = BY_KEY[key]
    sample = sample_visit(sess, tenant)
    p = sample.payload
    cfg = current_app.config["SIMILIA"]
    site = cfg.public_url(tenant.slug)
    url = lambda path: cfg.public_url(tenant.slug, path)  # noqa: E731
    if key in ENGLISH_ONLY:
        with languages.force_locale("en"):
            if key == "practitioner.alert":
                m = notify_render.alert_message(
                    tenant,
                    p,
                    practitioner=sample.practitioner,
                    who=SAMPLE_PATIENT,
                    link=url(f"/console/calendar/appointments/{SAMPLE_ID}"),
                    site=url("/console"),
                )
            else:
                local = dt.datetime.fromisoformat(p["start"])
                m = notify_render.agenda_message(
                    tenant,
                    p,
                    practitioner=sample.practitioner,
                    lines=[f"{local:%H:%M} {p['service']} - {SAMPLE_PATIENT}"],
                    link=url("/console/day"),
                )
        return Preview(kind, "en", m.subject, m.body, m.html)
    with languages.force_locale(lang):
        if key == "email.follow_up_invitation":
            day = dt.date.fromisoformat(p["date"])
            subject, body = invitation_text(
                tenant.name,
                SAMPLE_PATIENT,
                sample.practitioner if "practitioner" not in sample.missing else None,
                day + dt.timedelta(days=28),
                day + dt.timedelta(days=42),
                url("/book"),
            )
            html = notify_render.plain_html(tenant, key, subject, body, site=site)
            return Preview(kind, lang, subject, body, html)
        m = notify_render.patient_message(tenant, key, p, name=SAMPLE_PATIENT, site=site, url=url)
    text = None
    if key == "appointment.reminder":
        with languages.force_locale(lang):  # texts go in the patient's language too
            text = notify_render.sms_reminder_text(
                p, tenant.name, url(f"/appointments/{SAMPLE_ID}")
            )
    return Preview(
        kind,
        lang,
        m.subject,
        m.body,
        m.html,
        sms=text,
        segments=sms.segments(text) if text else None,
    )
