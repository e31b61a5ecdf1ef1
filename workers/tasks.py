"""Every actor module, for ``dramatiq workers.tasks``."""

from . import outbox  # noqa: F401
