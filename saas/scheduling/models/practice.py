"""Practice configuration: locations, practitioners, visit types, availability, booking rules.

Decisions:

- A location stores its own IANA time zone (the clinic's at creation unless given), so a
  later change of the clinic's zone never silently moves a branch's opening hours.
- Weekly availability is per practitioner *and* location: a homeopath may see patients in
  the town practice on Mondays and online on Thursdays. Weekdays are ISO (1 = Monday).
- Booking rules live in one table: the clinic's row has ``service_id`` NULL, a visit type's
  row overrides only the columns it sets (NULL = inherit). See :mod:`saas.scheduling.rules`.
- Prices are integers in minor units (paise, pence, cents) in the visit type's currency.
- Columns naming a visit type keep the name ``service_id`` from before the rename (the model
  was ``Service``), like the API fields that carry them.
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
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saas.models import Base, TenantScoped
from saas.models.base import tenant_fk

LOCATION_KINDS = ("in_person", "online")
SERVICE_MODES = ("in_person", "online", "either")
EXCEPTION_KINDS = ("time_off", "extra_hours")


def _fk(column: str, table: str, ondelete: str | None = "CASCADE") -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete
    )


class Location(TenantScoped, Base):
    """A place where visits happen: a practice address, or "online" (video)."""

    __tablename__ = "locations"
    __table_args__ = (tenant_fk("locations"),)

    name: Mapped[str] = mapped_column(String(120))
    #: in_person or online
    kind: Mapped[str] = mapped_column(String(16), default="in_person")
    address: Mapped[str | None] = mapped_column(Text)
    #: IANA zone the weekly hours of this location are written in.
    timezone: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Practitioner(TenantScoped, Base):
    """A homeopath who sees patients; optionally linked to a staff account."""

    __tablename__ = "practitioners"
    __table_args__ = (tenant_fk("practitioners"), _fk("user_id", "users", "SET NULL (user_id)"))

    display_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(160))
    bio: Mapped[str | None] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The staff account of this practitioner (sees their own schedule and feed).
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Email the linked staff account on a new booking, cancellation or reschedule.
    alerts_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    #: Email the linked staff account the day's agenda each morning (opt-in).
    daily_agenda: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class VisitType(TenantScoped, Base):
    """A visit type: initial case-taking, follow-up, acute visit..."""

    __tablename__ = "visit_types"
    __table_args__ = (tenant_fk("visit_types"),)

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(CHAR(3))
    #: Preparation time kept free before the visit.
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: Time for notes kept free after the visit.
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: in_person, online or either (which kinds of location may offer it)
    mode: Mapped[str] = mapped_column(String(16), default="in_person")
    new_patients_only: Mapped[bool] = mapped_column(Boolean, default=False)
    returning_patients_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Bookings start as ``held`` until paid (or the hold expires).
    requires_prepayment: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: What the patient pays online when booking: none, deposit or full (see billing.payments).
    payment_mode: Mapped[str] = mapped_column(String(10), default="none")
    #: A deposit as a fixed amount (minor units) or as a percent of the price.
    deposit_minor: Mapped[int | None] = mapped_column(BigInteger)
    deposit_percent: Mapped[int | None] = mapped_column(Integer)
    #: Reminder offsets (minutes before the visit) for this visit type; None: the clinic's.
    reminder_offsets_minutes: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))


class VisitTypePractitioner(Base):
    """Which practitioners offer a visit type."""

    __tablename__ = "visit_type_practitioners"
    __table_args__ = (_fk("service_id", "visit_types"), _fk("practitioner_id", "practitioners"))

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class VisitTypeLocation(Base):
    """At which locations a visit type is offered."""

    __tablename__ = "visit_type_locations"
    __table_args__ = (_fk("service_id", "visit_types"), _fk("location_id", "locations"))

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class AvailabilityRule(TenantScoped, Base):
    """A weekly window: practitioner P sees patients at location L on weekday W, start–end.

    Times are wall-clock times in the location's zone; ``valid_from``/``valid_until`` are
    inclusive dates (None = open-ended).
    """

    __tablename__ = "availability_rules"
    __table_args__ = (_fk("practitioner_id", "practitioners"), _fk("location_id", "locations"))

    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    weekday: Mapped[int] = mapped_column(SmallInteger)  #: ISO weekday, 1 = Monday
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)


class AvailabilityException(TenantScoped, Base):
    """One-off change: time off (blocks the practitioner everywhere) or extra hours."""

    __tablename__ = "availability_exceptions"
    __table_args__ = (_fk("practitioner_id", "practitioners"), _fk("location_id", "locations"))

    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: Required for extra hours; for time off None means "everywhere".
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(16))  #: time_off or extra_hours
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(200))


class Closure(TenantScoped, Base):
    """Whole days the clinic (or one location) is closed: holidays, renovation..."""

    __tablename__ = "closures"
    __table_args__ = (_fk("location_id", "locations"),)

    #: None closes every location.
    location_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(120))
    start_date: Mapped[dt.date] = mapped_column(Date)  #: inclusive, location's zone
    end_date: Mapped[dt.date] = mapped_column(Date)  #: inclusive, location's zone


class BookingRules(TenantScoped, Base):
    """The clinic's booking rules (``service_id`` None) or one visit type's overrides."""

    __tablename__ = "booking_rules"
    __table_args__ = (tenant_fk("booking_rules"), _fk("service_id", "visit_types"))

    service_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    slot_step_minutes: Mapped[int | None] = mapped_column(Integer)
    min_notice_minutes: Mapped[int | None] = mapped_column(Integer)
    max_advance_days: Mapped[int | None] = mapped_column(Integer)
    cancellation_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    late_cancellation_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    reschedule_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    hold_minutes: Mapped[int | None] = mapped_column(Integer)
    follow_up_min_days: Mapped[int | None] = mapped_column(Integer)
    follow_up_max_days: Mapped[int | None] = mapped_column(Integer)


class CalendarFeed(TenantScoped, Base):
    """A secret, revocable ICS subscription URL of one practitioner (token stored hashed)."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (_fk("practitioner_id", "practitioners"),)

    practitioner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ScheduleVersion(Base):
    """A clinic's schedule counters, bumped by triggers (migration ``0009``); read, never written.

    ``config`` changes with the practice (visit types, practitioners, locations, rules,
    hours, time off, closures), ``bookings`` with appointments that decide free time. Caches
    of the practice catalogue and of free times are keyed by them (:mod:`..catalogue`).
    """

    __tablename__ = "schedule_versions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    config: Mapped[int] = mapped_column(BigInteger, default=0)
    bookings: Mapped[int] = mapped_column(BigInteger, default=0)
