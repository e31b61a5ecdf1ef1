"""Appointments, their history, and the waitlist.

An appointment moves through explicit states (held, confirmed, checked_in, completed,
cancelled, no_show, expired); which verb moves which state to which, who may use it and
when is the table in :mod:`saas.scheduling.states`.

``held``, ``confirmed`` and ``checked_in`` are *active*: they occupy the practitioner's
time (``occupied`` = visit widened by its buffers) under the exclusion constraint. A hold
whose ``hold_expires_at`` has passed is treated as expired everywhere even before the
sweeper has written ``expired``: booking expires overlapping stale holds in its own
transaction before inserting, and the slot search ignores them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID, Range
from sqlalchemy.orm import Mapped, mapped_column

from saas.models import Base, TenantScoped, utcnow
from saas.models.base import tenant_fk

STATUSES = ("held", "confirmed", "checked_in", "completed", "cancelled", "no_show", "expired")
#: States that occupy the practitioner's time (the exclusion constraint's predicate).
ACTIVE_STATUSES = ("held", "confirmed", "checked_in")


def _fk(column: str, table: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete
    )


class Appointment(TenantScoped, Base):
    """A booked visit of one patient with one practitioner at one location."""

    __tablename__ = "appointments"
    __table_args__ = (
        tenant_fk("appointments"),
        _fk("patient_id", "patients"),
        _fk("practitioner_id", "practitioners"),
        _fk("location_id", "locations"),
        _fk("service_id", "visit_types"),
        ForeignKeyConstraint(
            ["tenant_id", "booked_by_user_id"],
            ["users.tenant_id", "users.id"],
            ondelete="SET NULL (booked_by_user_id)",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Buffers copied from the service at booking time (later service edits do not move them).
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: [start - buffer_before, end + buffer_after): what the exclusion constraint compares.
    occupied: Mapped[Range[dt.datetime]] = mapped_column(TSTZRANGE)
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Price and currency at booking time.
    price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(CHAR(3))
    booked_by: Mapped[str] = mapped_column(String(16))  #: patient or staff
    booked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    payment_ref: Mapped[str | None] = mapped_column(String(120))
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(16))  #: patient, staff or system
    #: Sealed (clinic key): patients write health details into it; erasure clears it.
    cancel_reason: Mapped[bytes | None] = mapped_column(
        "cancel_reason_enc", LargeBinary, info={"sealed": True}
    )
    #: Cancelled by the patient inside the cancellation cutoff.
    late_cancellation: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Late-cancellation or no-show fee owed (minor units), for billing to collect.
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def effective_status(self, now: dt.datetime | None = None) -> str:
        """The status as patients and staff should see it: a lapsed hold is ``expired``."""
        now = now or utcnow()
        if (
            self.status == "held"
            and self.hold_expires_at is not None
            and self.hold_expires_at <= now
        ):
            return "expired"
        return self.status


class AppointmentEvent(TenantScoped, Base):
    """One transition in an appointment's history (append-only; the audit log links to it)."""

    __tablename__ = "appointment_events"
    __table_args__ = (_fk("appointment_id", "appointments"),)

    appointment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: booked, confirmed, rescheduled, cancelled, checked_in, completed, no_show, hold_expired
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    old_start_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    new_start_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    actor_kind: Mapped[str] = mapped_column(String(16))  #: patient, staff or system
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_label: Mapped[str] = mapped_column(String(254))
    #: Never free text: a cancellation's reason lives sealed on the appointment.
    data: Mapped[dict] = mapped_column(JSONB, default=dict)


class WaitlistEntry(TenantScoped, Base):
    """A patient waiting for a sooner slot of a service (optionally one practitioner/place)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        _fk("patient_id", "patients"),
        _fk("service_id", "visit_types"),
        _fk("practitioner_id", "practitioners"),
        _fk("location_id", "locations"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Inclusive date range (clinic's zone) the patient can come; None = open.
    earliest_date: Mapped[dt.date | None] = mapped_column(Date)
    latest_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(
        String(16), default="waiting"
    )  #: waiting, booked, cancelled
    last_offered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WaitlistOffer(TenantScoped, Base):
    """A freed slot offered to a waitlist entry (first come, first served)."""

    __tablename__ = "waitlist_offers"
    __table_args__ = (
        _fk("entry_id", "waitlist_entries"),
        _fk("practitioner_id", "practitioners"),
        _fk("location_id", "locations"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
