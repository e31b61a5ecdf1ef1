"""Scheduling settings of a clinic: how calendar feeds show patients.

Decisions: feeds are polled by calendar apps and stored on third-party servers, so patients
appear as initials unless the clinic chooses ``full`` names or ``none``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid
from saas.models import Tenant

FEED_NAME_MODES = ("initials", "full", "none")


def feed_name_mode(tenant: Tenant) -> str:
    """How patient names appear in calendar feeds: initials (default), full or none."""
    mode = (tenant.settings or {}).get("patient_names_in_feeds", "initials")
    return mode if mode in FEED_NAME_MODES else "initials"


def set_feed_name_mode(sess: Session, tenant: Tenant, actor, mode: str) -> None:
    """Choose how patient names appear in calendar feeds (a clinic setting)."""
    if mode not in FEED_NAME_MODES:
        raise Invalid(
            {"patient_names_in_feeds": "Choose initials, full or none."}, reason="invalid"
        )
    tenant.settings = {**(tenant.settings or {}), "patient_names_in_feeds": mode}
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "practice.feed_privacy_set",
        actor=actor,
        data={"patient_names_in_feeds": mode},
    )
