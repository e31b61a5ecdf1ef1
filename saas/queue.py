"""Send a dramatiq message by actor name, without importing ``workers``.

The web app and the CLI only ever *kick* workers (the outbox relay); the work itself is
named in outbox rows. The broker lives on the runtime (``similia.broker``), built from
``REDIS_URL`` by :func:`saas.runtime.build_runtime`.
"""

from __future__ import annotations

import dramatiq
from flask import current_app, has_app_context

#: actor name -> queue it listens on (kept in step with ``workers``; a test checks it).
QUEUES = {"relay_outbox": "outbox", "process_stripe_event": "billing"}


def send(actor_name: str, *args) -> None:
    """Enqueue ``actor_name(*args)`` on its queue (no-op outside an app context)."""
    if not has_app_context():
        return
    broker = current_app.extensions["similia.broker"]
    broker.enqueue(
        dramatiq.Message(
            queue_name=QUEUES[actor_name],
            actor_name=actor_name,
            args=args,
            kwargs={},
            options={},
        )
    )
