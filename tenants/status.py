"""A clinic's status: one vocabulary and one way to change it.

Billing (subscriptions) and the operator console both move a clinic between states, so the
transitions live here and nowhere else. Every change is written to the clinic's audit log
with who made it and why.

States:

- ``trialing``  — signed up, free trial running; works like ``active``.
- ``active``    — paying (or free of charge by an operator's decision).
- ``past_due``  — a payment failed; still works, the console shows a banner for the grace period.
- ``suspended`` — the portal says bookings are paused, the console is read-only; no data lost.
- ``closing``   — deletion requested; grace period, portal offline, owner may export.
- ``deleted``   — keys shredded (see :mod:`tenants.lifecycle`); terminal.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from saas import audit
from saas.actors import Actor
from saas.clinic_states import (  # noqa: F401 - the vocabulary, re-exported
    ACTIVE,
    CLOSING,
    DELETED,
    LIVE,
    OPERATING,
    PAST_DUE,
    REACHABLE,
    STATUSES,
    SUSPENDED,
    TRIALING,
)
from saas.db import bind_tenant
from saas.exceptions import Conflict
from saas.models import Tenant, utcnow

#: The free trial a clinic gets at signup (``tenants.trial_ends_at``).
TRIAL_DAYS = 14

#: Allowed transitions (from → to). ``deleted`` is reached only through lifecycle.delete_clinic.
TRANSITIONS: dict[str, frozenset[str]] = {
    TRIALING: frozenset({ACTIVE, PAST_DUE, SUSPENDED, CLOSING}),
    ACTIVE: frozenset({PAST_DUE, SUSPENDED, CLOSING, TRIALING}),
    PAST_DUE: frozenset({ACTIVE, SUSPENDED, CLOSING}),
    SUSPENDED: frozenset({ACTIVE, TRIALING, PAST_DUE, CLOSING}),
    CLOSING: frozenset({TRIALING, ACTIVE, SUSPENDED, DELETED}),
    DELETED: frozenset(),
}


#: Requests that still write while a clinic is read-only: staff signing in and out.
READ_ONLY_ALLOWED = frozenset({"auth.login", "auth.mfa", "auth.logout", "auth.enrol"})
READ_ONLY_ALLOWED_PATHS = frozenset({"/api/v1/auth/token"})
#: While ``closing``: the owner may still export patients' data and cancel the deletion.
CLOSING_ALLOWED = READ_ONLY_ALLOWED | frozenset(
    {"patients.request_export", "console.cancel_deletion", "console.request_clinic_export"}
)


def is_read_only(tenant: Tenant | None) -> bool:
    """True when the clinic answers but nobody may change anything (``suspended``, ``closing``)."""
    return tenant is not None and tenant.status in (SUSPENDED, CLOSING)


def staff_only(tenant: Tenant | None) -> bool:
    """True when only the staff's console answers (``closing``: the portal is offline)."""
    return tenant is not None and tenant.status == CLOSING


def is_operating(tenant: Tenant) -> bool:
    """True when patients can book and staff can write."""
    return tenant.status in OPERATING


def change_status(sess: Session, tenant: Tenant, new: str, *, actor: Actor, reason: str) -> bool:
    """Move ``tenant`` to ``new`` and audit it; returns False when it already was ``new``.

    Raises :class:`~saas.exceptions.Conflict` for a transition that is not allowed
    (e.g. out of ``deleted``). The caller owns the transaction.
    """
    if new not in STATUSES:
        raise ValueError(f"unknown clinic status {new!r}")
    old = tenant.status
    if old == new:
        return False
    if new not in TRANSITIONS.get(old, frozenset()):
        raise Conflict(f"A clinic cannot go from {old} to {new}.")
    bind_tenant(sess, tenant.id)
    tenant.status = new
    tenant.status_changed_at = utcnow()
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "tenant.status_changed",
        actor=actor,
        target=f"tenant:{tenant.slug}",
        data={"from": old, "to": new, "reason": reason},
    )
    return True
