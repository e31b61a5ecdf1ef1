"""Gunicorn settings for Similia (``gunicorn -c python:saas.gunicorn_conf saas.wsgi:app``).

Chosen by measurement (``make bench``, README "Performance"): the threaded worker
(``gthread``) with ``SAAS_WEB_WORKERS`` processes (default: 2 per core) of
``SAAS_WEB_THREADS`` threads (default 4). Processes give CPU parallelism past the GIL;
threads overlap the waits on Postgres, Redis and Vault, which are most of a request's time
on the booking path. No async worker: the database driver and the key service are
blocking, and the live calendar polls with conditional GETs (a 304 is cheap), so nothing
holds a connection open.
"""

from __future__ import annotations

import multiprocessing
import os

worker_class = "gthread"
workers = int(os.environ.get("SAAS_WEB_WORKERS", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("SAAS_WEB_THREADS", 4))
graceful_timeout = 5
#: Keep-alive for clients behind one proxy; the proxy holds the idle connections.
keepalive = 5


def child_exit(server, worker):
    """A web worker ended: its Prometheus files stop counting as live (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_starting(server):
    """The master starts: an empty Prometheus directory (files of a previous run would add up)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))
