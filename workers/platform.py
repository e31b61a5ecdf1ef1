"""Platform actors: the usage figures the operator console shows."""

from __future__ import annotations

import dramatiq

from . import broker  # noqa: F401 - sets the broker before actors are declared
from .runtime import in_app


@dramatiq.actor(queue_name="records", max_retries=3)
@in_app
def refresh_clinic_usage() -> None:
    """Count every clinic's usage into ``clinic_usage`` (:mod:`admin.platform.usage`)."""
    from admin.platform.usage import refresh_usage

    refresh_usage()
