"""Readiness and metrics (served on every host, no tenant resolution).

Liveness (``/healthz``) is answered in front of the app, by :mod:`saas.edge`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text

from . import db, metrics
from .extensions import limiter
from .web import UNRESOLVED, serve_on

bp = Blueprint("ops", __name__)
serve_on(bp, UNRESOLVED)
limiter.exempt(bp)  # probes come from the load balancer, often; they do no work worth limiting


@limiter.request_filter
def _probe() -> bool:
    """Probes skip the limiter before it looks up any limit (a third of a probe's time)."""
    return request.blueprint == "ops"


@bp.route("/readyz")
def readyz():
    """Postgres, Redis and Vault are reachable; 503 naming whichever is not."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        checks["postgres"] = "unreachable"
    try:
        current_app.extensions["similia.redis"].ping()
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001
        checks["redis"] = "unreachable"
    checks["vault"] = "ok" if current_app.extensions["similia.keys"].healthy() else "unreachable"
    failing = sorted(k for k, v in checks.items() if v != "ok")
    body = {"status": "ok" if not failing else "unavailable", "checks": checks, "failing": failing}
    # the outbox's figures (as on /metrics): informative, they never fail the probe
    details = {}
    if checks["postgres"] == "ok":
        try:
            redis = current_app.extensions["similia.redis"] if checks["redis"] == "ok" else None
            details["outbox"] = metrics.outbox_figures(db.session, redis)
        except Exception:  # noqa: BLE001
            db.session.rollback()
    body["details"] = details
    return jsonify(body), 503 if failing else 200


@bp.route("/metrics")
def metrics_endpoint():
    """Prometheus metrics (see :mod:`saas.metrics`); bearer ``METRICS_TOKEN`` in production."""
    refused = metrics.allowed(current_app.config["SIMILIA"], request.headers.get("Authorization"))
    if refused:
        return jsonify(message="Not found" if refused == 404 else "Unauthorized"), refused
    try:
        redis = current_app.extensions["similia.redis"]
        redis.ping()
    except Exception:  # noqa: BLE001 - the gauges without the queues
        redis = None
    figures = metrics.outbox_figures(db.session, redis)
    return Response(metrics.render(figures), mimetype=metrics.CONTENT_TYPE_LATEST)
