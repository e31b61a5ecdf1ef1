"""The calendar's pages, on one blueprint (``/console/calendar``): import this to register it."""

from . import appointment_views, booking_views, calendar_views  # noqa: F401 - routes register on import
from .blueprint import bp

__all__ = ["bp"]
