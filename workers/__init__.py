"""Dramatiq workers on Redis. Importing this package sets the broker from ``REDIS_URL``.

Run with ``dramatiq workers.tasks`` (``make run`` does). Actors run inside the shared
runtime (engine, Redis, keys; see :mod:`saas.runtime`), never the web app: importing a
blueprint is not needed to boot a worker (a test checks it).
"""

from __future__ import annotations

import os

import dramatiq

from saas.config import ConfigError
from saas.runtime import make_broker

_url = os.environ.get("REDIS_URL")
if not _url:
    raise ConfigError("REDIS_URL is not set (the worker queue lives in Redis)")
#: Prometheus is left out: it would open an exposition port (9191) in every worker process;
#: the workers' JSON logs carry what we measure.
broker = make_broker(_url)
dramatiq.set_broker(broker)
