"""Scheduling settings of a clinic: how calendar feeds show patients.

Decisions: feeds are polled by calendar apps and stored on third-party servers, so patients
appear as initials unless the clinic chooses ``full`` names or ``none``. The value lives in
the settings registry's ``feeds`` section (:mod:`saas.scheduling.settings`); these two
functions are its scheduling-side reader and the writer behind the deprecated
``/api/v1/practice/settings`` alias — one write path, one audit action.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from saas import settings
from saas.actors import as_actor
from saas.models import Tenant

from ..settings import FEED_NAME_MODES, FEEDS


def feed_name_mode(tenant: Tenant) -> str:
    """How patient names appear in calendar feeds: initials (default), full or none."""
    mode = settings.read(tenant, FEEDS.name)["patient_names_in_feeds"]
    return mode if mode in FEED_NAME_MODES else "initials"


def set_feed_name_mode(sess: Session, tenant: Tenant, actor, mode: str) -> None:
    """Choose how patient names appear in calendar feeds (through the settings registry)."""
    settings.update_settings(
        sess, tenant, as_actor(actor), FEEDS.name, {"patient_names_in_feeds": mode}
    )
