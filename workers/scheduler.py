"""A tiny periodic scheduler: enqueues the outbox sweep every ``SWEEP_SECONDS``.

Run as ``python -m workers.scheduler``; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import threading

from .outbox import sweep_outbox

SWEEP_SECONDS = 30


def main() -> None:
    """Loop until signalled."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(SWEEP_SECONDS):
        sweep_outbox.send()


if __name__ == "__main__":
    main()
