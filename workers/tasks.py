"""Every actor module, for ``dramatiq workers.tasks``."""

from . import outbox  # noqa: F401
from . import scheduling  # noqa: F401
from . import records  # noqa: F401
