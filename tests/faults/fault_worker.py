"""A supervised dramatiq worker for fault tests: ``python -m tests.faults.fault_worker``.

The supervisor imports the actors once, then forks a worker process (a real
``dramatiq.Worker`` consuming the queues from ``REDIS_URL``) and writes its pid to
``--pidfile``. When the worker dies (a test kills it with SIGKILL), the supervisor forks a
new one at once, so a test can kill workers many times a second without paying Python's
start-up each time. SIGTERM stops the supervisor and its worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def _child(queues: set[str], threads: int) -> None:
    import dramatiq

    from workers import broker

    worker = dramatiq.Worker(broker, queues=queues, worker_threads=threads, worker_timeout=100)
    worker.start()
    signal.signal(signal.SIGTERM, lambda *_: (worker.stop(timeout=5000), os._exit(0)))
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queues", default="outbox")
    args = parser.parse_args()
    import workers.tasks  # noqa: F401 - every actor, before forking

    queues = set(args.queues.split(","))
    stopping = False
    child = 0

    def stop(*_):
        nonlocal stopping
        stopping = True
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    starts = 0
    while not stopping:
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                _child(queues, args.threads)
            finally:
                os._exit(1)
        starts += 1
        tmp = f"{args.pidfile}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{child} {starts}\n")
        os.replace(tmp, args.pidfile)
        while True:
            try:
                pid, _ = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    sys.exit(0)


if __name__ == "__main__":
    main()
