"""Fixtures of the fault tests: a dedicated Redis, SMTP sink and worker per test."""

from __future__ import annotations

import os

import pytest

from tests.faults.processes import Redis, Sink, Worker
from tests.scheduling.conftest import make_practice  # noqa: F401 - fixture


@pytest.fixture
def dedicated(tmp_path, service_env):
    """A throw-away Redis and SMTP sink; ``worker()`` starts a supervised worker on them."""
    redis = Redis(tmp_path / "redis").start()
    sink = Sink(tmp_path / "mail").start()
    workers: list[Worker] = []

    class Setup:
        pass

    setup = Setup()
    setup.redis, setup.sink = redis, sink
    setup.env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "SMTP_URL": sink.url,
        "OUTBOX_LEASE_SECONDS": "3",
    }

    def worker(threads: int = 2) -> Worker:
        w = Worker(tmp_path / f"worker{len(workers)}", setup.env, threads=threads).start()
        workers.append(w)
        return w

    setup.worker = worker
    yield setup
    for w in workers:
        w.stop()
    sink.stop()
    redis.stop()
