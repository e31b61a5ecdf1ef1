"""Dramatiq workers on Redis. Importing this package sets the broker from ``REDIS_URL``.

Run with ``dramatiq workers.tasks`` (``make run`` does). Actors run inside the Flask app
context built from the environment (see :mod:`workers.runtime`).
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Prometheus, default_middleware

from saas.config import ConfigError

_url = os.environ.get("REDIS_URL")
if not _url:
    raise ConfigError("REDIS_URL is not set (the worker queue lives in Redis)")
#: Prometheus is left out: it would open an exposition port (9191) in every worker process;
#: the workers' JSON logs carry what we measure.
broker = RedisBroker(url=_url, middleware=[m() for m in default_middleware if m is not Prometheus])
dramatiq.set_broker(broker)
