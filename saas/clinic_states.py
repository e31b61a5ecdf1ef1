"""The words for a clinic's status and the sets of them that code elsewhere asks about.

The vocabulary lives in the core so the workers (which boot without the web app and its
``tenants`` package) and the web app read the same sets. The transitions and the one way to
change a status are in :mod:`tenants.status`, which re-exports these names.
"""

from __future__ import annotations

TRIALING = "trialing"
ACTIVE = "active"
PAST_DUE = "past_due"
SUSPENDED = "suspended"
CLOSING = "closing"
DELETED = "deleted"

STATUSES = (TRIALING, ACTIVE, PAST_DUE, SUSPENDED, CLOSING, DELETED)

#: States in which patients can book and staff can write.
OPERATING = frozenset({TRIALING, ACTIVE, PAST_DUE})
#: States in which the clinic's host still answers (pages, sign-in, read-only console).
REACHABLE = frozenset({TRIALING, ACTIVE, PAST_DUE, SUSPENDED})
#: Every state but ``deleted``: the clinic's data exists, so housekeeping (holds lapsing,
#: retention, exports, key rotation, messages already written) goes on whatever the
#: subscription says.
LIVE = frozenset({TRIALING, ACTIVE, PAST_DUE, SUSPENDED, CLOSING})
