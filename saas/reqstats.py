"""Request figures for operators: requests and server errors per clinic, latency per endpoint.

Each web process counts in memory (no Redis call on the request path) and adds its counts to
Redis at most every :data:`FLUSH_SECONDS` in one pipeline, into five-minute buckets
(``similia:reqstats:<bucket start>``, a hash, kept two hours). ``/ops/health`` reads the
last :data:`WINDOW_BUCKETS` buckets (the last hour): error rate per clinic and the slowest
endpoints (p95 from the latency buckets, so an upper bound: "at most 250 ms").

Decisions:

- A server error is an answer with status 500 or more (an unhandled exception included: Flask
  answers it through the same hooks). 4xx answers are the client's, counted as requests only.
- Keys are the clinic's id (``platform`` on the platform host, health checks not counted) and
  the endpoint name with its method (``GET portal.book``; ``(no route)`` for 404s without
  one), never a path, so a patient's id or an email in a URL never reaches the figures.
- A process that stops loses at most its last :data:`FLUSH_SECONDS` of counts: these are
  operating figures, not billing.
- Redis down: the flush is dropped (logged once per process) and the request is unaffected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

log = logging.getLogger(__name__)

#: Latency bucket upper bounds in milliseconds (the last one catches the rest).
BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, float("inf"))
BUCKET_SECONDS = 300
WINDOW_BUCKETS = 12
KEEP_SECONDS = 2 * 3600
FLUSH_SECONDS = 10.0
PREFIX = "similia:reqstats:"


class Recorder:
    """One process's counts since its last flush."""

    def __init__(self, redis, flush_seconds: float = FLUSH_SECONDS):
        self.redis = redis
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._counts: dict[str, int] = defaultdict(int)
        self._last_flush = time.monotonic()
        self._warned = False

    def record(self, clinic: str, endpoint: str, status: int, ms: float) -> None:
        """Count one answer; flush when the interval has passed."""
        slot = next(i for i, bound in enumerate(BOUNDS_MS) if ms <= bound)
        error = 1 if status >= 500 else 0
        with self._lock:
            c = self._counts
            c[f"c|{clinic}|n"] += 1
            c[f"c|{clinic}|e"] += error
            c[f"e|{endpoint}|n"] += 1
            c[f"e|{endpoint}|e"] += error
            c[f"e|{endpoint}|ms"] += round(ms)
            c[f"e|{endpoint}|b{slot}"] += 1
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts to the current bucket in Redis (one round trip)."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(int)
            self._last_flush = time.monotonic()
        if not counts:
            return
        key = f"{PREFIX}{int(time.time()) // BUCKET_SECONDS * BUCKET_SECONDS}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            for field, n in counts.items():
                if n:
                    pipe.hincrby(key, field, n)
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()
        except Exception:  # noqa: BLE001 - figures must never break a request
            if not self._warned:
                log.warning("request figures not stored: Redis did not answer", exc_info=True)
                self._warned = True


def window(redis, now: float | None = None) -> dict[str, int]:
    """The summed counts of the last hour's buckets."""
    now = time.time() if now is None else now
    start = int(now) // BUCKET_SECONDS * BUCKET_SECONDS
    pipe = redis.pipeline(transaction=False)
    for i in range(WINDOW_BUCKETS):
        pipe.hgetall(f"{PREFIX}{start - i * BUCKET_SECONDS}")
    total: dict[str, int] = defaultdict(int)
    for bucket in pipe.execute():
        for field, n in bucket.items():
            total[field.decode() if isinstance(field, bytes) else field] += int(n)
    return total


def clinic_errors(counts: dict[str, int]) -> list[tuple[str, int, int]]:
    """(clinic key, requests, server errors) for every clinic, most errors first."""
    rows = []
    for field, n in counts.items():
        kind, clinic, what = field.split("|", 2)
        if kind == "c" and what == "n":
            rows.append((clinic, n, counts.get(f"c|{clinic}|e", 0)))
    rows.sort(key=lambda r: (-r[2], -(r[2] / r[1] if r[1] else 0), r[0]))
    return rows


def slowest_endpoints(counts: dict[str, int], limit: int = 10) -> list[dict]:
    """Endpoints by p95 (bucket upper bound), then mean: name, requests, errors, mean, p95.

    ``p95_ms`` is None when the 95th percentile lies beyond the last finite bound (5 s).
    """
    names = {f.split("|", 2)[1] for f in counts if f.startswith("e|")}
    rows = []
    for name in names:
        n = counts.get(f"e|{name}|n", 0)
        if not n:
            continue
        p95, seen = BOUNDS_MS[-1], 0
        for slot, bound in enumerate(BOUNDS_MS):
            seen += counts.get(f"e|{name}|b{slot}", 0)
            if seen >= 0.95 * n:
                p95 = bound
                break
        rows.append(
            {
                "endpoint": name,
                "requests": n,
                "errors": counts.get(f"e|{name}|e", 0),
                "mean_ms": counts.get(f"e|{name}|ms", 0) / n,
                "p95_ms": None if p95 == BOUNDS_MS[-1] else p95,  # None: over the last bound
            }
        )
    rows.sort(key=lambda r: (-(r["p95_ms"] or BOUNDS_MS[-1]), -r["mean_ms"], r["endpoint"]))
    return rows[:limit]
