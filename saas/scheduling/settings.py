"""The ``feeds`` settings section: how patients appear in practitioners' calendar feeds.

Declared in the settings registry (:mod:`saas.settings`). Privacy first: initials by
default; ``full`` or ``none`` per clinic.
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
