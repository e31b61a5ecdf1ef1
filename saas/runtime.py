"""The runtime every process shares: config, engine, Redis, key service, queue broker.

:func:`build_runtime` makes a bare Flask object carrying these (services read them from
``current_app``) and nothing else: no blueprint, template, extension or route. The web app
(:func:`saas.app.create_app`) builds on it; the workers and the CLI use it alone, so a
broken page or blueprint can never stop a worker from booting.
"""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Prometheus, default_middleware
from flask import Flask

from . import db, logs
from .config import Config
from .crypto import KeyService
from .security import passwords


def make_broker(redis_url: str) -> RedisBroker:
    """The dramatiq broker on Redis (without Prometheus, which would open a port)."""
    return RedisBroker(
        url=redis_url, middleware=[m() for m in default_middleware if m is not Prometheus]
    )


def build_runtime(config: Config | None = None, *, name: str = "similia") -> Flask:
    """A Flask object holding the shared runtime in ``extensions`` (no web parts)."""
    config = config or Config.from_env()
    app = Flask(name)
    app.config.update(SIMILIA=config, SECRET_KEY=config.secret_key, TESTING=config.testing)
    logs.configure()
    passwords.configure(config.password_time_cost)
    app.extensions["similia.engine"] = db.make_engine(
        config.app_database_url,
        pool_size=config.db_pool_size,
        max_overflow=config.extra.get("db_max_overflow", 10),
    )
    app.extensions["similia.redis"] = redis.Redis.from_url(config.redis_url, socket_timeout=5)
    app.extensions["similia.keys"] = KeyService(
        config.vault_addr,
        config.vault_token,
        config.vault_admin_token,
        shredder_token=config.vault_shredder_token,
        ttl=config.dek_cache_ttl,
    )
    app.extensions["similia.broker"] = make_broker(config.redis_url)
    # the operator console's own connection and Vault token, blind to clinical data
    # (admin.platform): created lazily, so a process that never serves it opens nothing
    app.extensions["similia.ops_engine"] = db.make_engine(
        config.ops_database_url or config.app_database_url, pool_size=2, max_overflow=2
    )
    app.extensions["similia.ops_keys"] = KeyService(
        config.vault_addr,
        config.vault_operator_token or "",
        "",
        ttl=0,
    )

    @app.teardown_appcontext
    def _remove_session(exc):
        db.session.remove()

    return app
