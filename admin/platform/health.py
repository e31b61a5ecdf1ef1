"""Platform health for operators: dependencies, queue depths, dead letters.

Read from the services themselves on each request: Postgres (on the operator role's own
connection), Redis, Vault's health endpoint (the operator token needs no clinic key for it),
and dramatiq's Redis keys: ``dramatiq:<queue>`` (waiting), ``dramatiq:<queue>.DQ``
(delayed, retries included) and ``dramatiq:<queue>.XQ`` (dead letters).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm import Session

#: Every dramatiq queue the workers consume.
QUEUES = ("default", "outbox", "records", "scheduling")
NAMESPACE = "dramatiq"


@dataclass(frozen=True)
class QueueDepth:
    """One queue's backlog."""

    name: str
    waiting: int
    delayed: int
    dead: int


def dependencies(sess: Session) -> dict[str, bool]:
    """Whether Postgres, Redis and Vault answer."""
    checks = {}
    try:
        sess.execute(text("SELECT 1"))
        checks["Postgres"] = True
    except Exception:  # noqa: BLE001 - any failure means down (the request's end rolls back)
        checks["Postgres"] = False
    try:
        checks["Redis"] = bool(current_app.extensions["similia.redis"].ping())
    except Exception:  # noqa: BLE001
        checks["Redis"] = False
    checks["Vault"] = current_app.extensions["similia.ops_keys"].healthy()
    return checks


def queue_depths() -> list[QueueDepth]:
    """Waiting, delayed and dead messages per queue (one Redis round trip)."""
    redis = current_app.extensions["similia.redis"]
    pipe = redis.pipeline()
    for q in QUEUES:
        pipe.llen(f"{NAMESPACE}:{q}")
        pipe.llen(f"{NAMESPACE}:{q}.DQ")
        pipe.zcard(f"{NAMESPACE}:{q}.XQ")
    counts = pipe.execute()
    return [
        QueueDepth(q, *counts[i * 3 : i * 3 + 3])  # noqa: E203 - slice of three per queue
        for i, q in enumerate(QUEUES)
    ]
