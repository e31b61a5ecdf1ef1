"""Per-process caches of rendered work: bounded, thread-safe, each entry with its own end.

Pages that many people load between two changes (a clinic's front page, a week of the
console calendar) keep what they built under a key that holds every version it depends on,
so a change makes a new key and the old entry simply ages out. An entry also ends at its
own instant (``until``), for what a version cannot see: the clock passing a free time or a
hold's lapse. Values are shared between threads: store only what nobody mutates.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class Expiring:
    """A least-recently-used map of at most ``size`` entries, each valid until its instant.

    ``max_bytes``: the values are bytes, and together they stay under this many (the
    oldest make room; a value larger than the whole budget is not kept).
    """

    def __init__(self, size: int, *, max_bytes: int | None = None):
        self.size = size
        self.max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[Hashable, tuple[dt.datetime, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _weight(self, value) -> int:
        return len(value) if self.max_bytes is not None else 0

    def _drop(self, key: Hashable) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= self._weight(value)

    def get(self, key: Hashable, now: dt.datetime):
        """The value stored under ``key`` if it is still valid at ``now``, else None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= now:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, value, until: dt.datetime) -> None:
        """Store ``value`` under ``key`` until ``until``; the oldest entries make room."""
        weight = self._weight(value)
        if self.max_bytes is not None and weight > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (until, value)
            self._bytes += weight
            while len(self._entries) > self.size or (
                self.max_bytes is not None and self._bytes > self.max_bytes
            ):
                self._drop(next(iter(self._entries)))

    def get_or_build(
        self,
        key: Hashable,
        now: dt.datetime,
        build: Callable[[], Any],
        until: Callable[[Any], dt.datetime],
    ):
        """The valid value under ``key``, or ``build()``'s, stored until ``until(value)``."""
        value = self.get(key, now)
        if value is None:
            value = build()
            self.put(key, value, until(value))
        return value

    def clear(self) -> None:
        """Forget everything (benchmarks time a first render with it)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
