"""A small periodic scheduler: enqueues each recurring job when it is due.

Run one instance as ``saas scheduler`` or ``python -m workers.scheduler`` (``make run``
does; production runs one ``scheduler`` task); it stops on SIGTERM/SIGINT. Jobs only
*enqueue* dramatiq messages, so the work itself runs on the workers and scales with them.
Every job is idempotent, so a restart that runs one early is harmless. Two copies started
by mistake are safe: only the holder of a Postgres advisory lock (:func:`leadership`)
enqueues; the other waits and takes over if the first one stops.
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
    from .billing import sweep_billing_status, sweep_stripe_events
    from .outbox import sweep_outbox
    from .platform import refresh_clinic_usage
    from .records import records_daily
    from .reminders import sweep_reminders
    from .scheduling import sweep_holds

    return [
        Job("outbox sweep", 30, sweep_outbox.send),
        Job("expired holds", 60, sweep_holds.send),
        Job("stripe events", 60, sweep_stripe_events.send),
        Job("clinic billing status (trial end, grace, paid)", 3600, sweep_billing_status.send),
        Job("appointment reminders", 300, sweep_reminders.send),
        Job("records daily (follow-ups, retention, export expiry)", 24 * 3600, records_daily.send),
        Job("clinic usage for operators", 15 * 60, refresh_clinic_usage.send),
    ]


def due(jobs: list[Job], last_run: dict[str, float], now: float) -> list[Job]:
    """The jobs whose interval has passed since they last ran (never run → due)."""
    return [j for j in jobs if now - last_run.get(j.name, float("-inf")) >= j.every]


#: the advisory lock only the running scheduler holds
LOCK_KEY = "similia-scheduler"


def leadership(conn) -> bool:
    """Take (or keep) the scheduler lock on ``conn`` (a session lock: freed when it closes)."""
    from sqlalchemy import text

    held = conn.scalar(
        text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": LOCK_KEY}
    )
    conn.commit()
    return bool(held)


def main() -> None:
    """Loop until signalled; enqueue only while this copy holds the scheduler lock."""
    from .runtime import get_app

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    table, last_run = jobs(), {}
    engine = get_app().extensions["similia.engine"]
    with engine.connect() as conn:
        leader = False
        while not stop.is_set():
            leader = leader or leadership(conn)
            if leader:
                now = time.monotonic()
                for job in due(table, last_run, now):
                    job.send()
                    last_run[job.name] = now
            stop.wait(TICK_SECONDS)


if __name__ == "__main__":
    main()
