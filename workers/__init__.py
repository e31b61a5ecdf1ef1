"""Dramatiq workers on Redis. Importing this package sets the broker from ``REDIS_URL``.

Run with ``dramatiq workers.tasks`` (``make run`` does). Actors run inside the Flask app
context built from the environment (see :mod:`workers.runtime`).
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from saas.config import ConfigError

_url = os.environ.get("REDIS_URL")
if not _url:
    raise ConfigError("REDIS_URL is not set (the worker queue lives in Redis)")
broker = RedisBroker(url=_url)
dramatiq.set_broker(broker)
