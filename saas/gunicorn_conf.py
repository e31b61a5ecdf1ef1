"""Gunicorn settings for Similia (``gunicorn -c python:saas.gunicorn_conf saas.wsgi:app``).

Chosen by measurement (``make bench``, README "Performance"): the threaded worker
(``gthread``) with ``SAAS_WEB_WORKERS`` processes (default: 2 per core) of
``SAAS_WEB_THREADS`` threads (default 4). Processes give CPU parallelism past the GIL;
threads overlap the waits on Postgres, Redis and Vault, which are most of a request's time
on the booking path. Measured on the 2-core machine (``BENCH_WORKERS``/``BENCH_THREADS``
with ``python -m bench http``, 6 December), req/s of 4x4 / 2x8 / 8x2: the public page
1,929 / 935 / 1,640, slot search for a day 1,288 / 651 / 1,109, bookings over 20 clinics
177 / 181 / 189. Bookings are within the noise of each other; fewer processes with more
threads lose half the cached reads to the GIL, more processes with fewer threads lose
some to switching. No async worker: the database driver and the key service are
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
