"""A small periodic scheduler: enqueues each recurring job when it is due.

Run one instance as ``python -m workers.scheduler`` (``make run`` does; production runs one
``scheduler`` task); it stops on SIGTERM/SIGINT. Jobs only *enqueue* dramatiq messages, so
the work itself runs on the workers and scales with them. Every job is idempotent, so a
restart that runs one early is harmless.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TICK_SECONDS = 5


@dataclass(frozen=True)
class Job:
    """A recurring job: ``send`` enqueues it; it runs at start-up and every ``every`` s."""

    name: str
    every: float
    send: Callable[[], object]


def jobs() -> list[Job]:
    """The recurring jobs (imported lazily: importing actors needs REDIS_URL)."""
    from .outbox import sweep_outbox
    from .records import records_daily
    from .billing import sweep_stripe_events
    from .scheduling import sweep_holds

    return [
        Job("outbox sweep", 30, sweep_outbox.send),
        Job("expired holds", 60, sweep_holds.send),
        Job("stripe events", 60, sweep_stripe_events.send),
        Job("records daily (follow-ups, retention, export expiry)", 24 * 3600, records_daily.send),
    ]


def due(jobs: list[Job], last_run: dict[str, float], now: float) -> list[Job]:
    """The jobs whose interval has passed since they last ran (never run → due)."""
    return [j for j in jobs if now - last_run.get(j.name, float("-inf")) >= j.every]


def main() -> None:
    """Loop until signalled."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    table, last_run = jobs(), {}
    while not stop.is_set():
        now = time.monotonic()
        for job in due(table, last_run, now):
            job.send()
            last_run[job.name] = now
        stop.wait(TICK_SECONDS)


if __name__ == "__main__":
    main()
