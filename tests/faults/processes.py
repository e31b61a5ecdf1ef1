"""Real processes for the fault tests: a throw-away Valkey, an SMTP sink, a worker.

Each test gets its own Redis (so stopping it never disturbs the session's shared one), its
own SMTP sink directory (so it counts exactly what it caused) and a supervised worker
(:mod:`tests.faults.fault_worker`) pointed at both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float = 20.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception:  # noqa: BLE001 - not yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting to {what}")
        time.sleep(every)


class Redis:
    """A dedicated Valkey server on its own port and directory (AOF: data survive a stop)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        from saas.devservices import _valkey_binary

        self.proc = subprocess.Popen(
            [
                str(_valkey_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        wait_until("ping Redis", lambda: redis.Redis.from_url(self.url, socket_timeout=1).ping())
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


class Sink:
    """The SMTP sink (``python -m saas.devmail``) as its own process, writing to ``dir``."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Sink:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "saas.devmail",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            "connect to the sink", lambda: socket.create_connection(("127.0.0.1", self.port), 1)
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Worker:
    """A supervised worker process; :meth:`kill` SIGKILLs the current worker."""

    def __init__(self, directory: Path, env: dict, threads: int = 2, queues: str = "outbox"):
        directory.mkdir(parents=True, exist_ok=True)
        self.pidfile = directory / "worker.pid"
        self.env, self.threads, self.queues = env, threads, queues
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> Worker:
        self.pidfile.unlink(missing_ok=True)
        self.log = (self.pidfile.parent / "worker.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults.fault_worker",
                "--pidfile",
                str(self.pidfile),
                "--threads",
                str(self.threads),
                "--queues",
                self.queues,
            ],
            cwd=ROOT,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            stdout=self.log,
            stderr=self.log,
        )
        wait_until("start the worker", self.current)
        return self

    def current(self) -> tuple[int, int] | None:
        try:
            pid, starts = self.pidfile.read_text().split()
            return int(pid), int(starts)
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the running worker, then wait until the supervisor has forked the next."""
        pid, starts = self.current()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.kills += 1
        wait_until("restart the worker", lambda: (c := self.current()) and c[1] > starts)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        current = self.current()
        if current:
            try:
                os.kill(current[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
