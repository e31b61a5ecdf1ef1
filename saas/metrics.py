"""Prometheus metrics: ``GET /metrics`` (prometheus-client) and the outbox figures.

- **Counters** are written where the work happens: the outbox relay counts each outcome
  (``similia_outbox_messages_total{outcome, channel}``: sent, failed, dead, skipped; the
  channel is email, sms or job). Under gunicorn and in worker processes set
  ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory shared by the processes of a host):
  prometheus-client then keeps the values in files there, ``/metrics`` adds up every
  process's files (``MultiProcessCollector``) and gunicorn's ``child_exit`` hook marks a
  dead worker's files (``saas.gunicorn_conf``). Without it, the values live in the process.
- **Gauges** are read at scrape time, from the source (never from a process's memory):
  clinics with a due outbox message and the lag of the oldest (``tenants.outbox_due_at``,
  one query on a partial index, flat in idle clinics) and the dramatiq queues' depth
  (Redis). The same figures are in ``/readyz`` under ``details`` (:func:`outbox_figures`).
- **Access**: in production (``SAAS_ENV=production``) ``/metrics`` needs
  ``Authorization: Bearer <METRICS_TOKEN>`` (401 without it; 404 when no token is
  configured, so an unprotected endpoint never exists there); elsewhere it is open unless
  ``METRICS_TOKEN`` is set.
"""

from __future__ import annotations

import hmac
import os

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # before the first metric is made
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402 - after the directory exists
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

#: outcomes of the outbox relay, by channel
MESSAGES = Counter(
    "similia_outbox_messages",
    "Outbox messages handled by the relay, by outcome and channel.",
    ["outcome", "channel"],
)
#: dramatiq queues whose depth is reported
QUEUES = ("outbox", "scheduling", "billing", "default", "records", "platform")


def count_message(outcome: str, channel: str) -> None:
    """Count one relay outcome (sent, failed, dead, skipped) on ``channel``."""
    MESSAGES.labels(outcome=outcome, channel=channel).inc()


def outbox_figures(sess, redis=None) -> dict:
    """Clinics with a due message, the oldest one's lag, and the queues' depth."""
    from sqlalchemy import func, select

    from saas.models import Tenant

    due, lag = sess.execute(
        select(
            func.count(),
            func.coalesce(func.extract("epoch", func.now() - func.min(Tenant.outbox_due_at)), 0),
        ).where(Tenant.outbox_due_at.is_not(None), Tenant.outbox_due_at <= func.now())
    ).one()
    figures = {"clinics_due": int(due), "lag_seconds": round(max(float(lag), 0.0), 3)}
    if redis is not None:
        try:
            pipe = redis.pipeline()
            for q in QUEUES:
                pipe.llen(f"dramatiq:{q}")
            figures["queues"] = dict(zip(QUEUES, pipe.execute(), strict=True))
        except Exception:  # noqa: BLE001 - Redis down: /readyz reports it as a check
            figures["queues"] = None
    return figures


class _OutboxCollector:
    """Gauges computed at scrape time from Postgres and Redis."""

    def __init__(self, figures: dict):
        self.figures = figures

    def collect(self):
        f = self.figures
        yield GaugeMetricFamily(
            "similia_outbox_clinics_due",
            "Clinics with an outbox message due now (retries, reminders, new messages).",
            value=f["clinics_due"],
        )
        yield GaugeMetricFamily(
            "similia_outbox_lag_seconds",
            "How long the oldest due outbox message has been waiting.",
            value=f["lag_seconds"],
        )
        depth = GaugeMetricFamily(
            "similia_queue_depth", "Messages waiting in a dramatiq queue.", labels=["queue"]
        )
        for name, n in (f.get("queues") or {}).items():
            depth.add_metric([name], n)
        yield depth


def render(figures: dict, multiproc_dir: str | None = None) -> bytes:
    """The exposition text: the counters (every process's, in multiprocess mode) and gauges."""
    multiproc_dir = multiproc_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001 - the process's
            registry.register(collector)
    registry.register(_OutboxCollector(figures))
    return generate_latest(registry)


def allowed(cfg, authorization: str | None) -> int | None:
    """None when the request may read the metrics, else the status to answer."""
    token = cfg.metrics_token
    if not token:
        return 404 if cfg.production else None
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not authorization or not authorization.startswith("Bearer ") or not given:
        return 401
    return None if hmac.compare_digest(given.encode(), token.encode()) else 401


__all__ = ["CONTENT_TYPE_LATEST", "allowed", "count_message", "outbox_figures", "render"]
