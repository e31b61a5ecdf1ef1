"""The per-process caches of rendered work: size, byte budget and each entry's end."""

from __future__ import annotations

import datetime as dt

from saas.memo import Expiring

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=1)


def test_an_entry_ends_at_its_instant_and_the_oldest_make_room():
    """Valid until its own end; past ``size`` the least recently used goes first."""
    cache = Expiring(2)
    cache.put("a", 1, LATER)
    cache.put("b", 2, NOW + dt.timedelta(seconds=1))
    assert cache.get("a", NOW) == 1  # a is now the most recently used
    cache.put("c", 3, LATER)
    assert cache.get("b", NOW) is None and cache.get("a", NOW) == 1
    assert cache.get("c", LATER) is None  # ended


def test_a_byte_budget_bounds_what_is_kept_whoever_chooses_the_keys():
    """Bytes values stay under the budget together; one larger than it is never kept."""
    cache = Expiring(100, max_bytes=10)
    for n in range(20):  # callers choose keys: twenty answers of 4 bytes
        cache.put(n, b"abcd", LATER)
    kept = [n for n in range(20) if cache.get(n, NOW) is not None]
    assert kept == [18, 19]  # 8 bytes; a third would pass 10
    cache.put("huge", b"x" * 11, LATER)
    assert cache.get("huge", NOW) is None and cache.get(19, NOW) == b"abcd"
    cache.put(19, b"abcdefgh", LATER)  # replacing an entry counts its new size only
    assert cache.get(19, NOW) == b"abcdefgh" and cache.get(18, NOW) is None
    cache.clear()
    cache.put("after", b"0123456789", LATER)
    assert cache.get("after", NOW) == b"0123456789"
