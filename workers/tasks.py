"""Every actor module, for ``dramatiq workers.tasks``."""

from . import (
    billing,  # noqa: F401
    outbox,  # noqa: F401
    platform,  # noqa: F401
    records,  # noqa: F401
    reminders,  # noqa: F401
    scheduling,  # noqa: F401
)
