"""Scheduling tables. Import models from here (``saas.scheduling.models``)."""

from .appointments import (
    ACTIVE_STATUSES,
    STATUSES,
    Appointment,
    AppointmentEvent,
    WaitlistEntry,
    WaitlistOffer,
)
from .practice import (
    AvailabilityException,
    AvailabilityRule,
    BookingRules,
    CalendarFeed,
    Closure,
    Location,
    Practitioner,
    ScheduleVersion,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
)

__all__ = [
    "ACTIVE_STATUSES",
    "STATUSES",
    "Appointment",
    "AppointmentEvent",
    "AvailabilityException",
    "AvailabilityRule",
    "BookingRules",
    "CalendarFeed",
    "Closure",
    "Location",
    "Practitioner",
    "ScheduleVersion",
    "VisitType",
    "VisitTypeLocation",
    "VisitTypePractitioner",
    "WaitlistEntry",
    "WaitlistOffer",
]
