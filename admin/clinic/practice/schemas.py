"""API schemas for practice configuration (staff): places, people, visit types, hours, rules.

Schemas check types; the verbs in ``saas.scheduling.practice`` check meaning (end
before start, overlapping windows, unknown zone, negative price...) on the resulting state,
so a PATCH is validated exactly like a POST.
"""

from __future__ import annotations

import copy

from marshmallow import Schema, fields, validate

from saas.inputs import single_line
from saas.scheduling.models.practice import EXCEPTION_KINDS, LOCATION_KINDS, SERVICE_MODES
from saas.scheduling.practice.availability import WEEKDAYS
from saas.scheduling.practice.settings import FEED_NAME_MODES

_HHMM = "%H:%M"
#: Highest price or fee in minor units (10 million in major units): a typo, not a price.
MAX_MINOR = 1_000_000_000


class LocationSchema(Schema):
    """A location."""

    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=[validate.Length(max=120), single_line])
    kind = fields.String(validate=validate.OneOf(LOCATION_KINDS), metadata={"example": "in_person"})
    address = fields.String(allow_none=True, validate=validate.Length(max=1000))
    timezone = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "IANA zone; defaults to the clinic's", "example": "Asia/Kolkata"},
    )
    is_active = fields.Boolean()
    created_at = fields.DateTime(dump_only=True)


class PractitionerSchema(Schema):
    """A practitioner profile."""

    id = fields.UUID(dump_only=True)
    display_name = fields.String(required=True, validate=[validate.Length(max=120), single_line])
    title = fields.String(allow_none=True, validate=[validate.Length(max=160), single_line])
    bio = fields.String(allow_none=True, validate=validate.Length(max=5000))
    photo_url = fields.String(allow_none=True, validate=validate.Length(max=500))
    is_active = fields.Boolean()
    user_id = fields.UUID(allow_none=True, metadata={"description": "Linked staff account"})
    alerts_enabled = fields.Boolean(
        metadata={"description": "Email the linked account on bookings, cancellations, moves"}
    )
    daily_agenda = fields.Boolean(
        metadata={"description": "Email the linked account the day's agenda each morning"}
    )
    created_at = fields.DateTime(dump_only=True)


class VisitTypeSchema(Schema):
    """A visit type and who offers it where."""

    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=[validate.Length(max=120), single_line])
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    duration_minutes = fields.Integer(required=True, strict=True)
    price_minor = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_MINOR),
        metadata={"description": "Minor units (cents, paise)"},
    )
    currency = fields.String(
        validate=validate.Length(equal=3),
        metadata={"description": "Defaults to the clinic's currency"},
    )
    buffer_before_minutes = fields.Integer(strict=True)
    buffer_after_minutes = fields.Integer(strict=True)
    mode = fields.String(validate=validate.OneOf(SERVICE_MODES))
    new_patients_only = fields.Boolean()
    returning_patients_only = fields.Boolean()
    requires_prepayment = fields.Boolean()
    payment_mode = fields.String(
        validate=validate.OneOf(("none", "deposit", "full")),
        metadata={"description": "What patients pay online when booking"},
    )
    deposit_minor = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_MINOR)
    )
    deposit_percent = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=100)
    )
    is_active = fields.Boolean()
    reminder_offsets_minutes = fields.List(
        fields.Integer(strict=True),
        allow_none=True,
        metadata={"description": "Reminder times in minutes before the visit; null: the clinic's"},
    )
    practitioner_ids = fields.List(fields.UUID())
    location_ids = fields.List(fields.UUID())
    created_at = fields.DateTime(dump_only=True)


class AvailabilitySchema(Schema):
    """A weekly window of a practitioner at a location (wall-clock times of its zone)."""

    id = fields.UUID(dump_only=True)
    practitioner_id = fields.UUID(required=True)
    location_id = fields.UUID(required=True)
    weekday = fields.Integer(
        required=True, strict=True, metadata={"description": "ISO: 1 = Monday ... 7 = Sunday"}
    )
    weekday_name = fields.Function(
        lambda w: WEEKDAYS[w.weekday - 1] if 1 <= w.weekday <= 7 else None, dump_only=True
    )
    start_time = fields.Time(required=True, format=_HHMM, metadata={"example": "09:00"})
    end_time = fields.Time(required=True, format=_HHMM, metadata={"example": "13:00"})
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)


class AvailabilityQuerySchema(Schema):
    """Filters for weekly windows."""

    practitioner_id = fields.UUID()
    location_id = fields.UUID()


class ExceptionSchema(Schema):
    """Time off or extra hours; times without an offset are read in the location's zone."""

    id = fields.UUID(dump_only=True)
    practitioner_id = fields.UUID(required=True)
    location_id = fields.UUID(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(EXCEPTION_KINDS))
    start = fields.DateTime(required=True, attribute="starts_at", data_key="start")
    end = fields.DateTime(required=True, attribute="ends_at", data_key="end")
    reason = fields.String(allow_none=True, validate=validate.Length(max=200))


class ExceptionQuerySchema(Schema):
    """Filters for exceptions: instants with their UTC offset, like every API filter."""

    practitioner_id = fields.UUID()
    start = fields.AwareDateTime(data_key="from")
    end = fields.AwareDateTime(data_key="to")


class ClosureSchema(Schema):
    """Whole days closed (inclusive), for one location or the whole clinic."""

    id = fields.UUID(dump_only=True)
    location_id = fields.UUID(
        allow_none=True, metadata={"description": "None closes every location"}
    )
    name = fields.String(
        required=True,
        validate=[validate.Length(max=120), single_line],
        metadata={"example": "Diwali"},
    )
    start_date = fields.Date(required=True)
    end_date = fields.Date(metadata={"description": "Defaults to start_date"})


class BookingRulesSchema(Schema):
    """Booking rules; on a visit type, null inherits the clinic's value."""

    slot_step_minutes = fields.Integer(allow_none=True, strict=True)
    min_notice_minutes = fields.Integer(allow_none=True, strict=True)
    max_advance_days = fields.Integer(allow_none=True, strict=True)
    cancellation_cutoff_minutes = fields.Integer(allow_none=True, strict=True)
    late_cancellation_fee_minor = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=0, max=MAX_MINOR)
    )
    reschedule_cutoff_minutes = fields.Integer(allow_none=True, strict=True)
    hold_minutes = fields.Integer(allow_none=True, strict=True)
    follow_up_min_days = fields.Integer(allow_none=True, strict=True)
    follow_up_max_days = fields.Integer(allow_none=True, strict=True)


class BookingRulesViewSchema(Schema):
    """The rules as set (``own``, nulls inherit) and as in force (``effective``)."""

    own = fields.Nested(BookingRulesSchema)
    effective = fields.Nested(BookingRulesSchema)


class PracticeSettingsSchema(Schema):
    """Clinic-wide scheduling settings."""

    patient_names_in_feeds = fields.String(
        required=True,
        validate=validate.OneOf(FEED_NAME_MODES),
        metadata={"description": "How calendar feeds show patients (privacy default: initials)"},
    )


class CalendarFeedSchema(Schema):
    """A new secret calendar subscription URL (shown once)."""

    url = fields.String()
    webcal_url = fields.String()


def _patch_schema(schema: type[Schema], name: str) -> type[Schema]:
    """The same fields, none required: the body of a PATCH (named for the OpenAPI document)."""
    declared = {}
    for key, f in schema._declared_fields.items():
        f = copy.deepcopy(f)
        f.required = False
        declared[key] = f
    doc = f"Change some fields of {schema.__name__[:-6]}."
    return type(name, (Schema,), {**declared, "__doc__": doc, "__module__": __name__})


LocationPatchSchema = _patch_schema(LocationSchema, "LocationPatchSchema")
PractitionerPatchSchema = _patch_schema(PractitionerSchema, "PractitionerPatchSchema")
VisitTypePatchSchema = _patch_schema(VisitTypeSchema, "VisitTypePatchSchema")
AvailabilityPatchSchema = _patch_schema(AvailabilitySchema, "AvailabilityPatchSchema")
