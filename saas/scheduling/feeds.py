"""iCalendar output: per-practitioner subscription feeds and per-appointment ``.ics`` files.

Decisions:

- A feed URL is ``/calendar/<token>.ics`` on the clinic's host. The token (``simcal_...``)
  is shown once; only its SHA-256 is stored. Issuing a new one revokes the old (one live
  URL per practitioner), and it can be revoked outright.
- Calendar apps poll feeds and store their content on third-party servers, so patient
  names follow the clinic's setting ``patient_names_in_feeds``: ``initials`` (default),
  ``full`` or ``none``. Feeds never carry contact data or clinical content.
- Times are written in UTC (``...Z``), which every calendar client reads correctly; the
  client shows them in its own zone. ``UID`` is stable across reschedules and ``SEQUENCE``
  counts them, so a moved appointment moves in the subscriber's calendar.
- A feed covers 30 days back to a year ahead: active, completed and no-show visits
  (cancelled and expired ones drop out).
"""

from __future__ import annotations

import datetime as dt
import uuid

import icalendar
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from saas import audit
from saas.models import Patient, Tenant, utcnow
from saas.security.secrets import digest, new_token

from .models import Appointment, CalendarFeed, Location, Practitioner, VisitType
from .practice.settings import feed_name_mode

TOKEN_PREFIX = "simcal_"
FEED_PAST = dt.timedelta(days=30)
FEED_FUTURE = dt.timedelta(days=365)
FEED_STATUSES = ("held", "confirmed", "checked_in", "completed", "no_show")
PRODID = "-//Similia//Scheduling//EN"
_ICS_STATUS = {"held": "TENTATIVE", "cancelled": "CANCELLED", "expired": "CANCELLED"}


def patient_label(full_name: str | None, mode: str) -> str | None:
    """The patient as a feed shows them: initials ("M. S."), the full name, or nothing."""
    if mode == "none" or not full_name:
        return None
    if mode == "full":
        return full_name
    return (
        " ".join(f"{part[0].upper()}." for part in full_name.split() if part[:1].isalpha()) or None
    )


# -- feed tokens ---------------------------------------------------------------------------------


def issue_feed(sess: Session, tenant: Tenant, actor, practitioner: Practitioner) -> str:
    """A new secret feed token for ``practitioner``; earlier ones stop working."""
    now = utcnow()
    sess.execute(
        update(CalendarFeed)
        .where(
            CalendarFeed.tenant_id == tenant.id,
            CalendarFeed.practitioner_id == practitioner.id,
            CalendarFeed.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    plain = TOKEN_PREFIX + new_token()
    sess.add(
        CalendarFeed(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            practitioner_id=practitioner.id,
            token_hash=digest(plain),
            created_by=getattr(actor, "id", None),
        )
    )
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "calendar_feed.issued",
        actor=actor,
        actor_label=getattr(actor, "label", None),
        target=f"practitioner:{practitioner.id}",
    )
    return plain


def revoke_feeds(sess: Session, tenant: Tenant, actor, practitioner: Practitioner) -> int:
    """Revoke every live feed URL of ``practitioner``; returns how many."""
    result = sess.execute(
        update(CalendarFeed)
        .where(
            CalendarFeed.tenant_id == tenant.id,
            CalendarFeed.practitioner_id == practitioner.id,
            CalendarFeed.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    audit.record(
        sess,
        tenant.id,
        "calendar_feed.revoked",
        actor=actor,
        actor_label=getattr(actor, "label", None),
        target=f"practitioner:{practitioner.id}",
        data={"revoked": result.rowcount},
    )
    return result.rowcount


def feed_by_token(sess: Session, tenant_id, token: str) -> CalendarFeed | None:
    """The live feed of this clinic with this token, or None (unknown, revoked, other clinic)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return sess.scalar(
        select(CalendarFeed).where(
            CalendarFeed.tenant_id == tenant_id,
            CalendarFeed.token_hash == digest(token),
            CalendarFeed.revoked_at.is_(None),
        )
    )


# -- calendars -------------------------------------------------------------------------------------


def _calendar(name: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    return cal


def _event(
    tenant: Tenant, appt: Appointment, summary: str, location: Location, description: str
) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", f"{appt.id}@{tenant.slug}.similia")
    ev.add("dtstamp", utcnow())
    ev.add("last-modified", appt.updated_at.astimezone(dt.UTC))
    ev.add("dtstart", appt.start_at.astimezone(dt.UTC))
    ev.add("dtend", appt.end_at.astimezone(dt.UTC))
    ev.add("summary", summary)
    where = (
        location.name
        if location.kind == "online" or not location.address
        else f"{location.name}, {location.address}"
    )
    ev.add("location", where)
    ev.add("description", description)
    ev.add("status", _ICS_STATUS.get(appt.status, "CONFIRMED"))
    ev.add("sequence", appt.reschedule_count)
    ev.add("transp", "OPAQUE")
    return ev


def practitioner_calendar(
    sess: Session, tenant: Tenant, practitioner: Practitioner, *, now: dt.datetime | None = None
) -> bytes:
    """The practitioner's subscription feed."""
    now = now or utcnow()
    mode = feed_name_mode(tenant)
    a = Appointment
    rows = sess.execute(
        select(a, VisitType.name, Location, Patient.full_name)
        .join(VisitType, and_(VisitType.tenant_id == a.tenant_id, VisitType.id == a.service_id))
        .join(Location, and_(Location.tenant_id == a.tenant_id, Location.id == a.location_id))
        .join(Patient, and_(Patient.tenant_id == a.tenant_id, Patient.id == a.patient_id))
        .where(
            a.tenant_id == tenant.id,
            a.practitioner_id == practitioner.id,
            a.start_at >= now - FEED_PAST,
            a.start_at < now + FEED_FUTURE,
            a.status.in_(FEED_STATUSES),
            or_(a.status != "held", a.hold_expires_at > now),
        )
        .order_by(a.start_at)
    ).all()
    cal = _calendar(f"{practitioner.display_name} · {tenant.name}")
    cal.add(
        "refresh-interval",
        icalendar.vDuration(dt.timedelta(minutes=15)),
        parameters={"VALUE": "DURATION"},
    )
    cal.add("x-published-ttl", icalendar.vDuration(dt.timedelta(minutes=15)))
    for appt, service_name, location, full_name in rows:
        who = patient_label(full_name, mode)
        summary = f"{service_name} – {who}" if who else service_name
        status_note = " (awaiting payment)" if appt.status == "held" else ""
        cal.add_component(
            _event(tenant, appt, summary + status_note, location, f"{tenant.name} · Similia")
        )
    return cal.to_ical()


def appointment_calendar(
    sess: Session, tenant: Tenant, appt: Appointment, *, for_patient: bool
) -> bytes:
    """A single appointment as an ``.ics`` file (patients: with their practitioner's name)."""
    service = sess.get(VisitType, (tenant.id, appt.service_id))
    practitioner = sess.get(Practitioner, (tenant.id, appt.practitioner_id))
    location = sess.get(Location, (tenant.id, appt.location_id))
    if for_patient:
        summary = f"{service.name} with {practitioner.display_name}"
        description = f"{tenant.name}. To reschedule or cancel, use the clinic's booking page."
    else:
        patient = sess.get(Patient, (tenant.id, appt.patient_id))
        who = patient_label(patient.full_name if patient else None, feed_name_mode(tenant))
        summary = f"{service.name} – {who}" if who else service.name
        description = f"{tenant.name} · {practitioner.display_name}"
    cal = _calendar(tenant.name)
    cal.add_component(_event(tenant, appt, summary, location, description))
    return cal.to_ical()


def touch_feed(sess: Session, feed: CalendarFeed, now: dt.datetime | None = None) -> None:
    """Note when a feed was last fetched (at most once an hour, to spare writes)."""
    now = now or utcnow()
    if feed.last_used_at is None or now - feed.last_used_at > dt.timedelta(hours=1):
        feed.last_used_at = now
