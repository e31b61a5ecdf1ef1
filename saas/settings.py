"""The per-clinic settings registry: typed sections, one read path, one write path.

Each area declares its section once — a marshmallow schema (types, validation and the
defaults as ``load_default``), the permission needed to change it and the audit action
written when it changes — and every reader and writer goes through :func:`read` and
:func:`update_settings`. ``tenants/`` owns the storage and the API
(``GET/PATCH /api/v1/settings/<section>``) and declares the clinic's own sections (profile,
branding); ``saas.records`` declares ``records``, ``saas.scheduling`` declares ``feeds``.

Decisions:

- The mechanism lives in the core because core services read settings (records policy,
  calendar feeds) and the core never imports a feature; the sections that belong to the
  clinic itself, and the HTTP surface, live in ``tenants/``.
- Stored as ``tenants.settings[<section>][<key>]`` (JSONB, never clinical data); keys a
  section marks as ``columns`` (the clinic's name and time zone) live on the tenant row.
  Unset keys read as the schema's default, so a default changes in one place only.
- Dict-valued settings (records' ``clinical_access``) merge key by key, so a change to one
  role's level leaves the others as they were.
- A change writes one audit entry (the section's action) with ``{key: [old, new]}`` for
  what actually changed; a no-op writes nothing.
- Bad input raises :class:`~saas.exceptions.Invalid` naming the field and changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import Schema, ValidationError
from marshmallow.utils import missing
from sqlalchemy.orm import Session

from . import audit
from .actors import Actor
from .exceptions import Forbidden, Invalid
from .models import Tenant
from .security.permissions import can


@dataclass(frozen=True)
class Section:
    """One area's settings."""

    name: str
    #: Field types, validation and defaults (``load_default``).
    schema: type[Schema]
    #: RBAC permission needed to change the section (reading needs ``console.view``).
    permission: str
    #: Audit action written when the section changes.
    audit_action: str
    description: str = ""
    #: Keys stored as columns of the tenant row instead of the JSON document.
    columns: frozenset[str] = field(default_factory=frozenset)
    #: Extra checks on the merged values: returns {field: message} for what is wrong.
    check: Callable[[dict], dict[str, str]] | None = None
    #: Keys only an owner may change (on top of ``permission``).
    owner_only: frozenset[str] = field(default_factory=frozenset)


SECTIONS: dict[str, Section] = {}


def declare(section: Section) -> Section:
    """Register ``section`` (once per name; a module declares its own at import)."""
    existing = SECTIONS.get(section.name)
    if existing is not None and existing is not section:
        raise ValueError(f"settings section {section.name!r} is declared twice")
    SECTIONS[section.name] = section
    return section


def section(name: str) -> Section:
    """The declared section ``name`` (KeyError if none)."""
    return SECTIONS[name]


def _default(fld):
    value = fld.load_default
    if value is missing:
        return None
    return value() if callable(value) else copy.deepcopy(value)


_FIELDS: dict[str, tuple] = {}


def _fields(sec: Section) -> tuple:
    """The section's readable ``(key, field)`` pairs, built once per section.

    Building a marshmallow schema costs ~0.5 ms and a public page reads four sections, so
    the field list is cached per declared section (schemas are static once declared).
    """
    cached = _FIELDS.get(sec.name)
    if cached is None or cached[0] is not sec:
        pairs = tuple((k, f) for k, f in sec.schema().fields.items() if not f.dump_only)
        cached = _FIELDS[sec.name] = (sec, pairs)
    return cached[1]


def read(tenant: Tenant, name: str) -> dict:
    """The clinic's values of one section, with defaults for what was never set."""
    sec = SECTIONS[name]
    stored = (tenant.settings or {}).get(name) or {}
    values = {}
    for key, fld in _fields(sec):
        if key in sec.columns:
            values[key] = getattr(tenant, key)
        elif key in stored:
            values[key] = copy.deepcopy(stored[key])
        else:
            values[key] = _default(fld)
    return values


def may_change(actor: Actor, name: str, key: str) -> bool:
    """Whether ``actor`` may change ``key`` of section ``name`` (what a page offers)."""
    sec = SECTIONS[name]
    if actor.kind != "staff":
        return True
    return can(actor.role, sec.permission) and (key not in sec.owner_only or actor.role == "owner")


def _text(value) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _flat(messages: dict) -> dict[str, str]:
    out = {}
    for key, msg in messages.items():
        if isinstance(msg, dict):
            msg = "; ".join(
                f"{k}: {' '.join(v) if isinstance(v, list) else v}" for k, v in msg.items()
            )
        elif isinstance(msg, list):
            msg = " ".join(str(m) for m in msg)
        out[key] = str(msg)
    return out


def update_settings(
    sess: Session, tenant: Tenant, actor: Actor, name: str, changes: dict
) -> dict[str, list]:
    """Validate and apply ``changes`` to one section; returns ``{key: [old, new]}`` (audited).

    ``tenant`` must be attached to ``sess``. Raises ``Invalid`` (naming the fields) or
    ``Forbidden`` (the actor's role lacks the section's permission); nothing changes then.
    """
    sec = SECTIONS[name]
    if actor.kind == "staff" and not can(actor.role, sec.permission):
        raise Forbidden(f"Your role does not allow {sec.permission}.")
    if actor.kind == "staff" and actor.role != "owner":
        if refused := sorted(sec.owner_only & set(changes)):
            raise Forbidden(
                "Only an owner can change this.",
                errors={k: "Only an owner can change this." for k in refused},
            )
    try:
        loaded = sec.schema().load(changes, partial=True)
    except ValidationError as exc:
        raise Invalid(_flat(exc.messages)) from exc
    current = read(tenant, name)
    for key, value in loaded.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            loaded[key] = {**current[key], **value}
    merged = {**current, **loaded}
    if sec.check is not None and (problems := sec.check(merged)):
        raise Invalid(problems)
    diff = {k: [current[k], v] for k, v in loaded.items() if current.get(k) != v}
    if not diff:
        return {}
    document = copy.deepcopy(tenant.settings or {})
    stored = dict(document.get(name) or {})
    for key, (_, new) in diff.items():
        if key in sec.columns:
            setattr(tenant, key, new)
        else:
            stored[key] = new
    document[name] = stored
    tenant.settings = document
    audit.record(
        sess, tenant.id, sec.audit_action, actor=actor, target=f"tenant:{tenant.slug}", data=diff
    )
    sess.flush()
    return diff
