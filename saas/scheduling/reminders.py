"""Appointment reminders: planned as outbox rows due at their send time.

:func:`plan_reminders` runs periodically (``workers.reminders``) and writes, for each
confirmed upcoming visit and each of the clinic's offsets (settings section ``reminders``,
default 24 h and 2 h), one ``appointment.reminder`` outbox row with
``next_attempt_at`` = the send time and the delivery key
``reminder:<visit>:<offset>:<start>``. The key is unique per clinic, so planning again (or
two planners at once) never writes a reminder twice; a moved visit has a new start, so it
gets new reminders while the old ones are skipped at delivery (:func:`reminder_skip`).

Decisions:

- An offset in whole days is counted on the clinic's calendar: "1 day before" a 10:00
  visit is 10:00 local time the day before, also across a DST change (23 or 25 real hours);
  other offsets are exact durations ("2 hours before").
- A reminder is useful until half its lead time has passed (a 24 h reminder until 12 h
  before the visit): after scheduler downtime, the planner writes what is still useful and
  leaves out the rest, and delivery skips a reminder that became useless while it waited
  ("too late").
- A visit type may have its own offsets (e.g. 48 h for a long first consultation):
  they replace the clinic's for its visits.
- Delivery is consent-aware: without a standing ``reminders_email`` consent the reminder
  is skipped with the reason "no consent" (reminders are not transactional messages).
- Texts: a patient with a standing ``reminders_sms`` consent at planning time also gets
  each reminder as a text (its own row, ``channel: sms``, delivery key suffixed ``:sms``);
  delivery checks the consent again and skips without a phone number ("no phone").
- The channels are the patient's preference, expressed by the two consents they set on
  the portal's profile page: email, text, both or neither. There is no separate
  "preferred channel" setting that could disagree with a consent.
- Content: the visit, the clinic's cancellation policy and the portal link to move or
  cancel it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from saas import outbox, settings
from saas.models import OutboxMessage, Tenant, utcnow
from saas.records.consents import has_consent

from . import settings as _sections  # noqa: F401 - declares the "reminders" section
from .messages import describe
from .models import Appointment, VisitType
from .rules import effective_rules

TOPIC = "appointment.reminder"
DAY = 1440


def offsets(tenant: Tenant) -> list[int]:
    """The clinic's reminder offsets in minutes, largest first."""
    return sorted(settings.read(tenant, "reminders")["offsets_minutes"], reverse=True)


def send_time(start: dt.datetime, offset_minutes: int, zone: ZoneInfo) -> dt.datetime:
    """When the reminder ``offset_minutes`` before ``start`` is sent (UTC)."""
    if offset_minutes % DAY == 0:
        local = start.astimezone(zone)
        wall = local.replace(tzinfo=None) - dt.timedelta(days=offset_minutes // DAY)
        return wall.replace(tzinfo=zone).astimezone(dt.UTC)
    return (start - dt.timedelta(minutes=offset_minutes)).astimezone(dt.UTC)


def useful_until(start: dt.datetime, send_at: dt.datetime) -> dt.datetime:
    """The last moment the reminder is worth sending: half its lead time."""
    return send_at + (start - send_at) / 2


def delivery_key(appointment_id, offset_minutes: int, start: dt.datetime) -> str:
    return f"reminder:{appointment_id}:{offset_minutes}:{start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


def visit_type_offsets(sess: Session, tenant: Tenant) -> dict[uuid.UUID, list[int]]:
    """The visit types with their own reminder offsets (largest first)."""
    rows = sess.execute(
        select(VisitType.id, VisitType.reminder_offsets_minutes).where(
            VisitType.tenant_id == tenant.id, VisitType.reminder_offsets_minutes.is_not(None)
        )
    )
    return {vid: sorted(offs, reverse=True) for vid, offs in rows}


def plan_reminders(sess: Session, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Write the missing reminders of the clinic's upcoming visits; returns how many.

    A visit type's own offsets (``visit_types.reminder_offsets_minutes``) replace the
    clinic's for its visits; an empty list means no reminder for that visit type.
    """
    now = now or utcnow()
    default = offsets(tenant)
    own = visit_type_offsets(sess, tenant)
    longest = max([*default, *(o for offs in own.values() for o in offs)], default=None)
    if longest is None:
        return 0
    horizon = now + dt.timedelta(minutes=longest + 2 * DAY)
    visits = sess.scalars(
        select(Appointment).where(
            Appointment.tenant_id == tenant.id,
            Appointment.status == "confirmed",
            Appointment.start_at > now,
            Appointment.start_at <= horizon,
        )
    ).all()
    written = 0
    for appt in visits:
        detail = describe(sess, appt)
        wanted = own.get(appt.service_id, default)
        if not wanted:
            continue
        rules = effective_rules(sess, tenant.id, appt.service_id)
        channels = ["email"]
        if has_consent(sess, tenant.id, appt.patient_id, "reminders_sms"):
            channels.append("sms")
        for offset, channel in ((o, ch) for o in wanted for ch in channels):
            send_at = send_time(appt.start_at, offset, ZoneInfo(detail["timezone"]))
            if useful_until(appt.start_at, send_at) <= now:
                continue
            payload = {
                **detail,
                "offset_minutes": offset,
                "cancellation_cutoff_minutes": rules.cancellation_cutoff_minutes,
                "fee_minor": rules.late_cancellation_fee_minor,
                "currency": appt.currency,
                **({"channel": channel} if channel != "email" else {}),
            }
            result = sess.execute(
                insert(OutboxMessage.__table__)
                .values(
                    tenant_id=tenant.id,
                    id=uuid.uuid4(),
                    topic=TOPIC,
                    payload=payload,
                    attempts=0,
                    state="queued",
                    delivery_key=delivery_key(appt.id, offset, appt.start_at)
                    + ("" if channel == "email" else f":{channel}"),
                    next_attempt_at=send_at,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(constraint="uq_outbox_delivery_key")
                .returning(OutboxMessage.__table__.c.id)
            )
            written += len(result.all())
    if written:
        outbox.mark_due(sess, tenant.id)
    return written


def reminder_skip(sess: Session, tenant: Tenant, payload: dict, now: dt.datetime) -> str | None:
    """Why this reminder must not be sent now, or None to send it."""
    appt = sess.scalar(
        select(Appointment).where(
            Appointment.tenant_id == tenant.id,
            Appointment.id == uuid.UUID(payload["appointment_id"]),
        )
    )
    if appt is None or appt.status != "confirmed":
        return "visit cancelled"
    start = dt.datetime.fromisoformat(payload["start"])
    if appt.start_at != start:
        return "visit moved"
    send_at = send_time(start, payload["offset_minutes"], ZoneInfo(payload["timezone"]))
    if now >= useful_until(start, send_at):
        return "too late"
    return None
