"""API schemas of the public booking catalogue and the slot search.

The appointment and waitlist shapes are the appointments API's (:mod:`saas.scheduling.schemas`).
``service_id``/``service`` name the visit type, as before the ``Service`` → ``VisitType``
rename, for compatibility with existing clients.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields


class DateOrDateTime(fields.Field):
    """``2026-03-29`` (a whole local day) or an ISO 8601 date-time (with or without offset)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Use a date (YYYY-MM-DD) or an ISO 8601 date-time.")
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            return dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError("Use a date (YYYY-MM-DD) or an ISO 8601 date-time.") from exc


class SlotQuerySchema(Schema):
    """Which free times to look for. ``to`` given as a date includes that whole day."""

    service_id = fields.UUID(required=True, metadata={"description": "The visit type"})
    start = DateOrDateTime(required=True, data_key="from", metadata={"example": "2026-03-02"})
    end = DateOrDateTime(required=True, data_key="to", metadata={"example": "2026-03-08"})
    practitioner_id = fields.UUID()
    location_id = fields.UUID()


class _PractitionerPublic(Schema):
    id = fields.UUID()
    display_name = fields.String()


class _LocationPublic(Schema):
    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    timezone = fields.String()


class SlotGroupSchema(Schema):
    """Free starts of one practitioner at one location (ISO 8601 with the UTC offset)."""

    practitioner = fields.Nested(_PractitionerPublic)
    location = fields.Nested(_LocationPublic)
    starts = fields.Raw(
        metadata={
            "description": "ISO 8601 start times, ascending",
            "type": "array",
            "items": {"type": "string"},
        }
    )


class SlotVisitTypeSchema(Schema):
    """The visit type searched."""

    id = fields.UUID()
    name = fields.String()
    duration_minutes = fields.Integer()


class SlotsSchema(Schema):
    """Free start times, grouped by practitioner and location."""

    service = fields.Nested(SlotVisitTypeSchema)
    timezone = fields.String(metadata={"description": "The clinic's zone"})
    start = fields.String(data_key="from")
    end = fields.String(data_key="to")
    count = fields.Integer()
    groups = fields.List(fields.Nested(SlotGroupSchema))


class PublicVisitTypeSchema(Schema):
    """A bookable visit type."""

    id = fields.UUID()
    name = fields.String()
    description = fields.String(allow_none=True)
    duration_minutes = fields.Integer()
    price_minor = fields.Integer()
    currency = fields.String()
    mode = fields.String()
    new_patients_only = fields.Boolean()
    returning_patients_only = fields.Boolean()
    requires_prepayment = fields.Boolean()
    practitioner_ids = fields.List(fields.UUID())
    location_ids = fields.List(fields.UUID())


class PublicPractitionerSchema(Schema):
    """A practitioner's public profile."""

    id = fields.UUID()
    display_name = fields.String()
    title = fields.String(allow_none=True)
    bio = fields.String(allow_none=True)
    photo_url = fields.String(allow_none=True)


class PublicLocationSchema(Schema):
    """A place to be seen."""

    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    address = fields.String(allow_none=True)
    timezone = fields.String()
