"""Scheduling's settings sections: calendar feed privacy and patients' booking limits.

Declared in the settings registry (:mod:`saas.settings`).

- ``feeds``: privacy first — patients appear as initials by default; ``full`` or ``none``.
- ``booking``: how much of the calendar one patient may hold through the portal: at most
  ``max_upcoming_per_patient`` upcoming visits (default 3) of which at most
  ``max_open_holds_per_patient`` unpaid holds (default 1). Staff booking by phone is exempt
  (the front desk decides); a patient over the limit gets 409 ``booking_limit``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from saas import settings

FEED_NAME_MODES = ("initials", "full", "none")


class FeedSettingsSchema(Schema):
    """Calendar feed privacy."""

    patient_names_in_feeds = fields.String(
        validate=validate.OneOf(FEED_NAME_MODES, error="Choose initials, full or none."),
        load_default="initials",
    )


FEEDS = settings.declare(
    settings.Section(
        name="feeds",
        schema=FeedSettingsSchema,
        permission="practice.manage",
        audit_action="practice.feed_privacy_set",
        description="How patient names appear in calendar subscriptions.",
    )
)


class BookingLimitsSchema(Schema):
    """Per-patient limits on self-booking."""

    max_upcoming_per_patient = fields.Integer(
        validate=validate.Range(min=1, max=50), load_default=3
    )
    max_open_holds_per_patient = fields.Integer(
        validate=validate.Range(min=1, max=10), load_default=1
    )


BOOKING = settings.declare(
    settings.Section(
        name="booking",
        schema=BookingLimitsSchema,
        permission="practice.manage",
        audit_action="practice.booking_limits_set",
        description="How many upcoming visits and unpaid holds one patient may book online.",
    )
)


def _offsets_problems(values: dict) -> dict[str, str]:
    offsets = values.get("offsets_minutes") or []
    if len(set(offsets)) != len(offsets):
        return {"offsets_minutes": "Each reminder time may appear once."}
    return {}


class ReminderSettingsSchema(Schema):
    """When patients are reminded of a visit, in minutes before it (whole days by the calendar)."""

    offsets_minutes = fields.List(
        fields.Integer(validate=validate.Range(min=15, max=14 * 1440)),
        validate=validate.Length(max=4),
        load_default=lambda: [1440, 120],
    )


REMINDERS = settings.declare(
    settings.Section(
        name="reminders",
        schema=ReminderSettingsSchema,
        permission="practice.manage",
        audit_action="practice.reminders_set",
        description="When patients get appointment reminders (default 24 hours and 2 hours).",
        check=_offsets_problems,
    )
)
