"""Shared fixtures: real Postgres, Redis, OpenBao and SMTP for the whole session.

Servers named by DATABASE_URL / REDIS_URL / VAULT_ADDR / SMTP_URL are used as they are;
the others start embedded under ``.var/test`` (kept between runs for speed). Each session
migrates a fresh database. Tests do not share clinics: every test signs up its own (two,
for access tests), so nothing needs rolling back and isolation is exercised constantly.

Clinics, staff, patients, practices and appointments come from ``tests/factories``; API
calls go through ``tests/client.py``. The fixtures here are thin wrappers over both.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests import factories
from tests.client import bearer_token, new_client, random_ip  # noqa: F401 - re-exported
from tests.factories import Clinic, ClinicFactory
from tests.helpers import owner_sql

ROOT = Path(__file__).resolve().parent.parent


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """The running servers and their environment.

    The embedded servers live in ``.var/test`` (kept between runs); a second test session
    running at the same time gets its own throw-away directory instead of stopping them.
    """
    import fcntl

    from saas.devservices import DevServices

    shared = ROOT / ".var" / "test"
    shared.mkdir(parents=True, exist_ok=True)
    lock = open(shared.parent / "test.lock", "w")  # noqa: SIM115 - held for the session
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        var_dir = shared
    except BlockingIOError:
        var_dir = tmp_path_factory.mktemp("var")
    svc = DevServices(var_dir, log=lambda *_: None)
    env = svc.start()
    yield svc, env
    svc.stop()
    lock.close()


@pytest.fixture(scope="session")
def service_env(services):
    """Environment for this test session, with a freshly migrated database."""
    _, env = services
    admin_url = env["DATABASE_URL"]
    name = f"similia_test_{os.getpid()}"
    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        for (old,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'similia_test_%'"
        ).fetchall():
            if not _pid_alive(int(old.rsplit("_", 1)[1])):  # left by a finished session
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **env,
        "DATABASE_URL": make_url(admin_url)
        .set(database=name)
        .render_as_string(hide_password=False),
        "SECRET_KEY": secrets.token_urlsafe(32),
    }
    if env.get("MAIL_DIR"):  # the development SMS file of this session, next to the mail
        env["SMS_FILE"] = str(Path(env["MAIL_DIR"]).parent / "sms" / f"{os.getpid()}.jsonl")
    os.environ.update(env)
    from saas.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    yield env


def make_config(**overrides):
    """Test configuration from the session environment."""
    from saas.config import Config

    return Config.from_env(testing=True, password_time_cost=1, **overrides)


@pytest.fixture(scope="session")
def app(service_env):
    """The app under test (one per session)."""
    from saas.app import create_app

    application = create_app(make_config())
    factories.bind(application)
    import workers.runtime

    workers.runtime.use_app(application)
    return application


@pytest.fixture(scope="session")
def keys(app):
    """The app's key service (real OpenBao)."""
    return app.extensions["similia.keys"]


@pytest.fixture(scope="session")
def runtime_dsn(app):
    """Psycopg DSN of the runtime role (RLS applies)."""
    return _psycopg_url(app.config["SIMILIA"].app_database_url)


@pytest.fixture(scope="session")
def owner_dsn(service_env):
    """Psycopg DSN of the migration/admin connection."""
    return _psycopg_url(service_env["DATABASE_URL"])


@pytest.fixture
def sql(owner_dsn):
    """Run SQL as the database owner (RLS off): for inspecting rows and moving time."""
    return owner_sql(owner_dsn)


@pytest.fixture
def client(app):
    """A test client with its own client address."""
    return new_client(app)


@pytest.fixture
def make_clinic(app):
    """Sign up a clinic (``ClinicFactory``); ``make_clinic(timezone=..., name=...)``."""
    return ClinicFactory


@pytest.fixture
def token_for(app):
    """A new bearer token through ``/api/v1/auth/token``: the owner's, or another member's."""

    def get(clinic: Clinic, *, email=None, password=None, secret=None) -> str:
        return bearer_token(
            app,
            clinic.host,
            email=email or clinic.owner_email,
            password=password or clinic.password,
            totp_secret=secret or clinic.totp_secret,
        )

    return get


@pytest.fixture
def two_clinics(make_clinic, token_for):
    """Clinics A and B with owner tokens: every access test proves B is refused A's data."""
    a, b = make_clinic(), make_clinic()
    return (a, token_for(a)), (b, token_for(b))


@pytest.fixture(scope="session")
def mail_dir(service_env):
    """Directory of the embedded SMTP sink."""
    path = service_env.get("MAIL_DIR")
    if not path:
        pytest.skip("SMTP_URL points at an external server; mail tests need the embedded sink")
    return Path(path)


@pytest.fixture(scope="session")
def worker(app):
    """A real dramatiq worker (in-process threads) consuming the Redis queue."""
    import random

    import dramatiq
    import dramatiq.brokers.redis
    import dramatiq.common

    import workers.tasks  # noqa: F401 - declares the actors
    from workers import broker

    # The Redis broker draws its maintenance chance from the global ``random`` on every
    # fetch; from a background thread that disturbs hypothesis tests running meanwhile
    # (HypothesisDeprecationWarning). The worker gets a generator of its own.
    dramatiq.brokers.redis.random = random.Random()
    dramatiq.common.uniform = random.Random().uniform  # retry backoff jitter, likewise

    w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    w.start()
    yield w
    w.stop()
