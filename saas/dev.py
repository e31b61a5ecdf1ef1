"""``saas dev`` (``make run``): embedded services, migrations, demo clinic, web + worker.

Services named by ``DATABASE_URL``, ``REDIS_URL``, ``VAULT_ADDR`` and ``SMTP_URL`` are used
as they are; the others start under ``.var/`` (see :mod:`saas.devservices`). Ctrl-C stops
the web server, the worker, the scheduler and every embedded server.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .devservices import DevServices


def _secret_key(var_dir: Path) -> str:
    path = var_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


#: The running ``make run``'s service URLs, for ``saas`` commands in another terminal.
DEV_ENV = "dev.env"


def write_dev_env(var_dir: Path, env: dict[str, str]) -> None:
    """Write the environment ``saas`` commands need to reach the running dev services.

    Owner-only file under ``.var/`` (it holds the development tokens and passwords);
    :func:`load_dev_env` reads it when ``DATABASE_URL`` is not set.
    """
    path = var_dir / DEV_ENV
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))


def load_dev_env(var_dir: Path = Path(".var")) -> bool:
    """Take the running ``make run``'s environment for what is not set (development only)."""
    path = var_dir / DEV_ENV
    if "DATABASE_URL" in os.environ or not path.is_file():
        return False
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            os.environ.setdefault(key, value)
    return True


def prepare(var_dir: Path, port: int, log=print) -> DevServices:
    """Start services, export their environment, migrate and seed the demo clinic."""
    var_dir.mkdir(parents=True, exist_ok=True)
    # the local Stripe test server delivers its webhooks to the platform host
    os.environ.setdefault("STRIPE_FORWARD_BASE", f"http://localhost:{port}")
    services = DevServices(var_dir, log=log)
    env = services.start()
    os.environ.update(env)
    os.environ.setdefault("SECRET_KEY", _secret_key(var_dir))
    os.environ.setdefault("SAAS_PUBLIC_PORT", str(port))
    write_dev_env(
        var_dir, {**env, **{k: os.environ[k] for k in ("SECRET_KEY", "SAAS_PUBLIC_PORT")}}
    )

    from tenants.demo import seed_demo

    from . import migrate
    from .app import create_app

    migrate.upgrade(os.environ["DATABASE_URL"])
    app = create_app()
    with app.app_context():
        if seed_demo():
            log("Seeded the demo clinic.")
    app.extensions["similia.engine"].dispose()
    return services


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def run(var_dir: Path, port: int = 8000, workers: int = 2) -> int:
    """Run the platform until Ctrl-C."""
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    # SIGTERM during start-up must still stop the embedded servers (atexit does that)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    services = prepare(var_dir, port)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    logs = var_dir / "logs"
    logs.mkdir(exist_ok=True)
    try:
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:saas.gunicorn_conf",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "saas.wsgi:app",
            ],
            "worker": [sys.executable, "-m", "dramatiq", "workers.tasks", "-p", "1", "-t", "2"],
            "scheduler": [sys.executable, "-m", "workers.scheduler"],
        }
        for name, cmd in commands.items():
            out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
            children.append(
                subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )
        if not _wait_http(f"http://127.0.0.1:{port}/healthz", 60):
            print(f"The web server did not start; see {logs / 'web.log'}", file=sys.stderr)
            return 1
        from tenants.demo import ACCOUNTS, PASSWORD, TOTP_SECRET

        print(
            f"\nSimilia is running.\n"
            f"  Platform (signup):   http://localhost:{port}\n"
            f"  Demo clinic:         http://demo.localhost:{port}\n"
            f"  Staff console:       http://demo.localhost:{port}/login\n"
            f"  API docs:            http://localhost:{port}/api/docs\n"
            f"  Mail sink:           {os.environ.get('MAIL_DIR', os.environ.get('SMTP_URL'))}\n"
            f"  Mailbox (emails, texts): http://localhost:{port}/dev/mailbox\n"
            f"  Stripe API:          {os.environ.get('STRIPE_API_BASE') or 'api.stripe.com'}\n"
            f"  Logs:                {logs}\n\n"
            f"Demo logins (password {PASSWORD!r}):\n"
            + "".join(f"  {role:<13} {email}\n" for email, _, role in ACCOUNTS)
            + f"Two-step code: add secret {TOTP_SECRET} to an authenticator app,\n"
            f"or run `.venv/bin/saas demo code` for the current code.\n\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"A process exited ({child.args[2]}); stopping.", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
        print("Stopped.", flush=True)
