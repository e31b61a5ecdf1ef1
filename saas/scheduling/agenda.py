"""A practitioner's daily agenda email (opt-in: ``practitioners.daily_agenda``).

:func:`plan_agendas` runs with the reminder planner (every 5 minutes) and writes, for each
practitioner who wants it, one ``practitioner.agenda`` outbox row per local day, due at
:data:`SEND_AT` in the practitioner's clinic's time zone, under the delivery key
``agenda:<practitioner>:<date>`` (so planning again never writes it twice). The visits are
read at send time, so a booking made at night is on the morning's list.

Decisions: an agenda is useful until :data:`USEFUL_FOR` after its send time (after a
scheduler outage a late morning agenda is still sent, an evening one is not: "too late");
the day is the clinic's calendar day (correct across DST changes: the send time is a wall
clock time).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from saas import outbox
from saas.models import OutboxMessage, Tenant, utcnow

from .models import Appointment, Practitioner, VisitType

TOPIC = "practitioner.agenda"
SEND_AT = dt.time(6, 0)
USEFUL_FOR = dt.timedelta(hours=6)
#: visits listed on the agenda
LISTED = ("held", "confirmed", "checked_in")


def send_time(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """When the agenda of ``day`` is sent (UTC)."""
    return dt.datetime.combine(day, SEND_AT, tzinfo=zone).astimezone(dt.UTC)


def plan_agendas(sess: Session, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Write the agendas of today and tomorrow (clinic time) still to come; how many."""
    now = now or utcnow()
    zone_name = tenant.timezone
    zone = ZoneInfo(zone_name)
    who = sess.scalars(
        select(Practitioner.id).where(
            Practitioner.tenant_id == tenant.id,
            Practitioner.is_active.is_(True),
            Practitioner.daily_agenda.is_(True),
            Practitioner.user_id.is_not(None),
        )
    ).all()
    today = now.astimezone(zone).date()
    written = 0
    for pid in who:
        for day in (today, today + dt.timedelta(days=1)):
            due = send_time(day, zone)
            if due + USEFUL_FOR <= now:
                continue
            result = sess.execute(
                insert(OutboxMessage.__table__)
                .values(
                    tenant_id=tenant.id,
                    id=uuid.uuid4(),
                    topic=TOPIC,
                    payload={
                        "practitioner_id": str(pid),
                        "date": day.isoformat(),
                        "timezone": zone_name,
                    },
                    attempts=0,
                    state="queued",
                    delivery_key=f"agenda:{pid}:{day.isoformat()}",
                    next_attempt_at=due,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(constraint="uq_outbox_delivery_key")
                .returning(OutboxMessage.__table__.c.id)
            )
            written += len(result.all())
    if written:
        outbox.mark_due(sess, tenant.id)
    return written


def agenda_skip(payload: dict, now: dt.datetime) -> str | None:
    """Why this agenda must not be sent now (None: send it)."""
    due = send_time(dt.date.fromisoformat(payload["date"]), ZoneInfo(payload["timezone"]))
    return "too late" if now >= due + USEFUL_FOR else None


@dataclass(frozen=True)
class AgendaVisit:
    """One line of the agenda."""

    start_at: dt.datetime
    service_name: str
    patient_id: uuid.UUID


def visits_of_day(
    sess: Session, tenant: Tenant, practitioner_id, day: str, zone_name: str
) -> list[AgendaVisit]:
    """The practitioner's visits on the local ``day``, in order."""
    zone = ZoneInfo(zone_name)
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(
        dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(0), tzinfo=zone
    )
    rows = sess.execute(
        select(Appointment.start_at, VisitType.name, Appointment.patient_id)
        .join(
            VisitType,
            (VisitType.tenant_id == Appointment.tenant_id)
            & (VisitType.id == Appointment.service_id),
        )
        .where(
            Appointment.tenant_id == tenant.id,
            Appointment.practitioner_id == practitioner_id,
            Appointment.status.in_(LISTED),
            Appointment.start_at >= start,
            Appointment.start_at < end,
        )
        .order_by(Appointment.start_at)
    )
    return [AgendaVisit(*r) for r in rows]
