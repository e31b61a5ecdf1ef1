"""Notifications benchmark: outbox -> worker -> SMTP, and outbox lag under a booking burst.

Real processes: two dramatiq worker processes started with the production command
(``dramatiq workers.tasks --processes 2 --threads 4 --queues outbox``) and the SMTP sink
(``python -m saas.devmail``) in a directory of its own, so every delivery is counted.

1. **Throughput**: 2,000 email messages (20 clinics x 100) written into the outbox in one
   go, one relay kick per clinic; messages per second from the first kick until the sink
   has every message (claim, commit, send over SMTP, record: the full delivery path).
2. **Lag under a burst**: 1,000 booking transactions spread over 50 clinics, committed as
   fast as 8 threads can (each writes a confirmation-sized message with ``outbox.emit``
   and kicks the clinic's relay after commit: the part of a booking that concerns
   delivery; the booking request itself is measured by ``bench.scheduling`` and
   ``bench.http``). Lag = ``dispatched_at - created_at`` of each message; target p99 < 5 s.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench import env

THROUGHPUT_CLINICS, THROUGHPUT_EACH = 20, 100
BURST_CLINICS, BURST_BOOKINGS, BURST_THREADS = 50, 1000, 8
WORKER_PROCESSES, WORKER_THREADS = 2, 4


def _owner_dsn() -> str:
    return (
        make_url(os.environ["DATABASE_URL"])
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _wait(check, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    raise TimeoutError("the outbox did not drain in time")


def _count_mail(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.eml"))


def _states(tenant_ids) -> dict[str, int]:
    with psycopg.connect(_owner_dsn()) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT state, count(*) FROM outbox WHERE tenant_id = ANY(%s) GROUP BY state",
            (list(tenant_ids),),
        ).fetchall()
    return dict(rows)


def _clinics(app, count: int) -> list[uuid.UUID]:
    from bench.scheduling import Clinic

    return [Clinic(app).id for _ in range(count)]


def _write_burst(tenant_ids, each: int) -> None:
    with psycopg.connect(_owner_dsn()) as conn:
        conn.execute("SET row_security = off")
        for tid in tenant_ids:
            conn.execute(
                "INSERT INTO outbox (tenant_id, id, topic, payload, attempts, state, created_at,"
                " next_attempt_at) SELECT %s, gen_random_uuid(), 'email.bench',"
                " jsonb_build_object('to', 'p' || n || '@bench.example.org', 'subject',"
                " 'Confirmed: Follow-up consultation', 'body', repeat('Your visit. ', 40)),"
                " 0, 'queued', clock_timestamp(), now() FROM generate_series(1, %s) AS n",
                (tid, each),
            )


def _throughput(app, mail_dir: Path) -> list:
    from saas import queue

    ids = _clinics(app, THROUGHPUT_CLINICS)
    _write_burst(ids, THROUGHPUT_EACH)
    total = THROUGHPUT_CLINICS * THROUGHPUT_EACH
    before = _count_mail(mail_dir)
    t0 = time.perf_counter()
    with app.app_context():
        for tid in ids:
            queue.send("relay_outbox", str(tid))
    _wait(lambda: _count_mail(mail_dir) - before >= total, timeout=600)
    seconds = time.perf_counter() - t0
    states = _states(ids)
    return [
        f"{total:,} emails, {THROUGHPUT_CLINICS} clinics",
        f"{seconds:.1f}",
        f"{total / seconds:.0f}",
        states.get("sent", 0),
    ]


def _burst(app) -> list:
    from saas import outbox
    from saas.db import tenant_session

    ids = _clinics(app, BURST_CLINICS)

    def book(n: int) -> None:
        tid = ids[n % len(ids)]
        with app.app_context(), tenant_session(tid) as sess:
            outbox.emit(
                sess,
                tid,
                "email.bench_booking",
                {
                    "to": f"b{n}@bench.example.org",
                    "subject": "Confirmed: Follow-up consultation",
                    "body": "Your consultation is booked. " * 12,
                },
            )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        list(pool.map(book, range(BURST_BOOKINGS)))
    written = time.perf_counter() - t0
    _wait(lambda: _states(ids).get("sent", 0) >= BURST_BOOKINGS, timeout=600, every=0.25)
    drained = time.perf_counter() - t0
    with psycopg.connect(_owner_dsn()) as conn:
        conn.execute("SET row_security = off")
        lags = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM dispatched_at - created_at) FROM outbox"
                " WHERE tenant_id = ANY(%s)",
                (ids,),
            ).fetchall()
        ]
    lags = [float(x) for x in lags]
    p99 = _pct(lags, 99)
    return [
        f"{BURST_BOOKINGS:,} bookings, {BURST_CLINICS} clinics",
        f"{written:.1f}",
        f"{drained:.1f}",
        f"{_pct(lags, 50):.2f}",
        f"{p99:.2f}",
        f"{max(lags):.2f}",
        "yes" if p99 < 5 else "NO",
    ]


def main() -> None:
    """Run both measurements and print the table."""
    app = env.make_app(extra={"disable_rate_limits": True})
    with tempfile.TemporaryDirectory() as tmp:
        mail_dir = Path(tmp) / "mail"
        port = _free_port()
        sink = subprocess.Popen(
            [sys.executable, "-m", "saas.devmail", "--port", str(port), "--dir", str(mail_dir)],
            cwd=env.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        workers = subprocess.Popen(
            [
                sys.executable, "-m", "dramatiq", "workers.tasks",
                "--processes", str(WORKER_PROCESSES), "--threads", str(WORKER_THREADS),
                "--queues", "outbox",
            ],
            cwd=env.ROOT,
            env={**os.environ, "SMTP_URL": f"smtp://127.0.0.1:{port}", "PYTHONPATH": str(env.ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(3.0)  # the workers boot
            through = _throughput(app, mail_dir)
            burst = _burst(app)
        finally:
            workers.terminate()
            sink.terminate()
            workers.wait(30)
            sink.wait(10)
    env.print_table(
        f"Notifications: outbox -> {WORKER_PROCESSES} worker processes "
        f"({WORKER_THREADS} threads) -> SMTP",
        ["load", "seconds", "messages/s", "sent"],
        [through],
    )
    env.print_table(
        "Notifications: outbox lag under a booking burst",
        ["burst", "written in s", "drained in s", "lag p50 s", "lag p99 s", "max s", "p99 < 5 s"],
        [burst],
    )
