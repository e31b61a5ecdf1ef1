"""Who acts: the one ``Actor`` passed to services and to :func:`saas.audit.record`.

Every audit line says who acted and of which kind, whatever the surface: a staff member
(console or API), a patient (portal), a platform operator, a system job (scheduler,
worker, CLI), or a payment provider's webhook.

Decisions:

- ``label`` is what the audit log shows: a staff member's email, ``patient:<id>`` for a
  patient (never a name or contact value: the log outlives erasure), ``system:<job>`` for a
  job, ``stripe`` for a payment provider.
- ``anonymous`` is someone not (yet) identified: a refused sign-in, labelled with what was
  typed (the log shows it was an attempt, not the system acting).
- Staff and system are not bound by patient-facing limits (minimum notice, new/returning
  rules); :attr:`Actor.is_staff` says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Patient, User

KINDS = ("staff", "patient", "operator", "system", "payment_provider", "anonymous")


@dataclass(frozen=True)
class Actor:
    """The one acting; ``kind`` is one of :data:`KINDS`."""

    kind: str
    id: uuid.UUID | None
    label: str
    user: User | None = None
    patient: Patient | None = None

    @classmethod
    def for_staff(cls, user: User) -> Actor:
        """A staff member acting through the console or API."""
        return cls("staff", user.id, user.email, user=user)

    @classmethod
    def for_patient(cls, patient: Patient) -> Actor:
        """A patient acting through the portal."""
        return cls("patient", patient.id, f"patient:{patient.id}", patient=patient)

    @classmethod
    def for_operator(cls, operator_id: uuid.UUID | None, email: str) -> Actor:
        """A platform operator (operator console or tooling)."""
        return cls("operator", operator_id, email)

    @classmethod
    def system(cls, job: str | None = None) -> Actor:
        """A scheduled job, worker or command; ``job`` names it in the log."""
        return cls("system", None, f"system:{job}" if job else "system")

    @classmethod
    def anonymous(cls, label: str) -> Actor:
        """Someone not identified: a refused sign-in attempt."""
        return cls("anonymous", None, label or "-")

    @classmethod
    def payment_provider(cls, name: str = "stripe") -> Actor:
        """A verified webhook from the payment provider."""
        return cls("payment_provider", None, name)

    @property
    def is_staff(self) -> bool:
        """True for staff and the system, who are not bound by patient-facing limits."""
        return self.kind in ("staff", "system")

    @property
    def role(self) -> str | None:
        """The staff role, or None for anyone else."""
        return self.user.role if self.user is not None else None


SYSTEM = Actor.system()


def as_actor(who: Any) -> Actor:
    """Coerce what a caller holds (an Actor, a staff User, a Patient, None) to an Actor."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return SYSTEM
    from .models import Patient, User

    if isinstance(who, User):
        return Actor.for_staff(who)
    if isinstance(who, Patient):
        return Actor.for_patient(who)
    raise TypeError(f"not an actor: {who!r}")
