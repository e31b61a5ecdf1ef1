"""A staff member's own sign-in sessions: seen, listed and ended from the security page.

Sessions live in Redis (:mod:`saas.sessions`) under a random id that only the cookie
carries. Each console request records that id in a per-member hash
(``staff_sessions:<clinic>:<user>`` → first seen, last seen, address, browser) with the
session's lifetime, so the member can see where they are signed in and end a session:
ending one deletes its Redis record, which signs that browser out on its next request.

Decisions: the page never shows or accepts the session id itself (it is a bearer secret);
it names each session by the first 16 hex digits of the id's SHA-256. Entries whose session
has gone (signed out, expired) are dropped when the list is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from saas.sessions import PREFIX

KEY = "staff_sessions:{tenant}:{user}"


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_agent(agent: str) -> str:
    """A short name for a browser's User-Agent: "Chrome on Linux" (or "Unknown browser")."""
    browser = next((name for key, name in _BROWSERS if key in agent), None)
    system = next((name for key, name in _SYSTEMS if key in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def handle(sid: str) -> str:
    """The public name of a session id."""
    return hashlib.sha256(sid.encode()).hexdigest()[:16]


def touch(redis, tenant_id, user_id, sid: str, *, ip: str | None, agent: str, ttl: int) -> None:
    """Record that session ``sid`` of this member was used now."""
    key = KEY.format(tenant=tenant_id, user=user_id)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    raw = redis.hget(key, sid)
    first = json.loads(raw)["first"] if raw else now
    entry = {"first": first, "seen": now, "ip": ip or "", "agent": (agent or "")[:200]}
    pipe = redis.pipeline()
    pipe.hset(key, sid, json.dumps(entry))
    pipe.expire(key, ttl)
    pipe.execute()


def list_sessions(redis, tenant_id, user_id, current_sid: str | None) -> list[dict]:
    """The member's live sessions, newest first; ``current`` marks this browser's."""
    key = KEY.format(tenant=tenant_id, user=user_id)
    out = []
    for sid_b, raw in redis.hgetall(key).items():
        sid = sid_b.decode() if isinstance(sid_b, bytes) else sid_b
        if not redis.exists(PREFIX + sid):
            redis.hdel(key, sid)
            continue
        entry = json.loads(raw)
        out.append(
            {
                "handle": handle(sid),
                "current": sid == current_sid,
                "first": dt.datetime.fromisoformat(entry["first"]),
                "seen": dt.datetime.fromisoformat(entry["seen"]),
                "ip": entry.get("ip", ""),
                "agent": entry.get("agent", ""),
                "browser": describe_agent(entry.get("agent", "")),
            }
        )
    return sorted(out, key=lambda s: (not s["current"], -s["seen"].timestamp()))


def end_sessions(redis, tenant_id, user_id, *, handles=None, keep_sid: str | None = None) -> int:
    """End the member's sessions named by ``handles`` (None: all but ``keep_sid``)."""
    key = KEY.format(tenant=tenant_id, user=user_id)
    ended = 0
    for sid_b in list(redis.hkeys(key)):
        sid = sid_b.decode() if isinstance(sid_b, bytes) else sid_b
        if sid == keep_sid:
            continue
        if handles is not None and handle(sid) not in handles:
            continue
        redis.delete(PREFIX + sid)
        redis.hdel(key, sid)
        ended += 1
    return ended
