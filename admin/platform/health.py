"""Platform health for operators: dependencies, queues, outbox, webhooks, clinics in trouble.

Read from the services themselves on each request: Postgres (on the operator role's own
connection), Redis, Vault's health endpoint (the operator token needs no clinic key for it),
and dramatiq's Redis keys: ``dramatiq:<queue>`` (waiting), ``dramatiq:<queue>.DQ``
(delayed, retries included) and ``dramatiq:<queue>.XQ`` (dead letters).

Outbox and webhook figures come from what the operator role may read: ``tenants.outbox_due_at``
(when each clinic's next message falls due, kept by the relay: live), ``clinic_usage``
(failed and dead messages per clinic, counted by the usage job: as of its last run) and the
state columns of ``stripe_events`` (received, processed: live). Never a message's content.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select, text
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


@dataclass(frozen=True)
class OutboxHealth:
    """Messages across clinics."""

    #: Clinics with a message due now, and how long the most overdue one has waited.
    clinics_due: int
    lag_seconds: float
    #: Counted by the usage job (as of ``counted_at``).
    failed: int
    dead: int
    oldest_pending_at: dt.datetime | None
    counted_at: dt.datetime | None


@dataclass(frozen=True)
class WebhookHealth:
    """Stripe events received but not processed yet."""

    backlog: int
    oldest_received_at: dt.datetime | None
    lag_seconds: float


def outbox_health(sess: Session) -> OutboxHealth:
    """Outbox lag (live, from the relay's due times) and failed/dead counts (usage job)."""
    from saas.models import ClinicUsage, Tenant

    due, lag = sess.execute(
        select(
            func.count(),
            func.coalesce(func.extract("epoch", func.now() - func.min(Tenant.outbox_due_at)), 0),
        ).where(
            Tenant.outbox_due_at.is_not(None),
            Tenant.outbox_due_at <= func.now(),
            Tenant.status.in_(("trialing", "active", "past_due", "closing")),
        )
    ).one()
    failed, dead, oldest, counted = sess.execute(
        select(
            func.coalesce(func.sum(ClinicUsage.messages_failed), 0),
            func.coalesce(func.sum(ClinicUsage.messages_dead), 0),
            func.min(ClinicUsage.oldest_pending_at),
            func.max(ClinicUsage.counted_at),
        )
    ).one()
    return OutboxHealth(int(due), float(lag), int(failed), int(dead), oldest, counted)


def webhook_health(sess: Session) -> WebhookHealth:
    """Unprocessed Stripe events: how many, and the oldest one's wait."""
    backlog, oldest, lag = sess.execute(
        text(
            "SELECT count(*), min(received_at), "
            "coalesce(extract(epoch FROM now() - min(received_at)), 0) "
            "FROM stripe_events WHERE processed_at IS NULL"
        )
    ).one()
    return WebhookHealth(int(backlog), oldest, float(lag))


def clinics_with_errors(sess: Session, limit: int = 20) -> list:
    """Clinics with failed or dead messages, most first: (id, name, slug, failed, dead)."""
    from saas.models import ClinicUsage, Tenant

    trouble = ClinicUsage.messages_failed + ClinicUsage.messages_dead
    return list(
        sess.execute(
            select(
                Tenant.id,
                Tenant.name,
                Tenant.slug,
                ClinicUsage.messages_failed,
                ClinicUsage.messages_dead,
            )
            .join(ClinicUsage, ClinicUsage.clinic_id == Tenant.id)
            .where(trouble > 0)
            .order_by(trouble.desc(), Tenant.slug)
            .limit(limit)
        ).all()
    )


@dataclass(frozen=True)
class ClinicErrors:
    """One clinic's requests and server errors in the last hour."""

    id: str
    name: str
    slug: str
    requests: int
    errors: int

    @property
    def rate(self) -> float:
        """Share of answers that were server errors."""
        return self.errors / self.requests if self.requests else 0.0


def request_figures(sess: Session, limit: int = 20) -> tuple[list[ClinicErrors], list[dict]]:
    """Error rate per clinic (with errors first) and the slowest endpoints, last hour.

    From :mod:`saas.reqstats` (counted by every web process, summed in Redis); the clinics'
    names come from ``tenants`` (which the operator role reads).
    """
    import uuid as _uuid

    from saas import reqstats
    from saas.models import Tenant

    try:
        counts = reqstats.window(current_app.extensions["similia.redis"])
    except Exception:  # noqa: BLE001 - Redis down is shown under dependencies
        return [], []
    rows = reqstats.clinic_errors(counts)[:limit]
    ids = []
    for key, _, _ in rows:
        try:
            ids.append(_uuid.UUID(key))
        except ValueError:
            pass
    names = {"platform": ("Platform host", "")}
    if ids:
        found = sess.execute(select(Tenant.id, Tenant.name, Tenant.slug).where(Tenant.id.in_(ids)))
        names.update({str(i): (name, slug) for i, name, slug in found})
    clinics = [
        ClinicErrors(key, *names.get(key, ("(deleted clinic)", "")), n, e) for key, n, e in rows
    ]
    return clinics, reqstats.slowest_endpoints(counts)
