"""The practice catalogue: one clinic's setup in memory, keyed by its ``config`` version.

Every booking, slot search and public-page view needs the same handful of small tables of
its clinic: visit types, practitioners, locations, which practitioner offers which visit
type where, booking rules, weekly hours, time off and closures. They change rarely (a
clinic edits its practice), while patients read them constantly. :func:`current` loads
them once per process and version and serves them from memory afterwards.

Decisions:

- **Keyed by the clinic's ``config`` counter** (``schedule_versions``, bumped by triggers in
  the transaction that changes any of these tables, migration ``0009``). The counter comes
  with the statement that binds the clinic to the transaction (:func:`saas.db.versions`), so
  a warm catalogue costs no query at all, and a change committed before this transaction
  began is always seen.
- **Never from a transaction that wrote the practice**: once a transaction has written one
  of these tables, it reads the database (its own uncommitted changes must neither be
  missed nor cached), so :func:`current` returns None and callers use their queries.
- **Read-only rows**: the rows are detached ORM instances shared by every thread; nothing
  may change them or add them to a session. Pages that edit the practice load their own rows.
- **Time off and closures** are held from two days before the load on (the past never
  changes what can be booked); a range that starts earlier reads the database.
- Bounded per process (:data:`SIZE` clinics, least recently used out).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from saas import db
from saas.models import utcnow

from . import slots as engine
from .models import (
    AvailabilityException,
    AvailabilityRule,
    BookingRules,
    Closure,
    Location,
    Practitioner,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
)
from .rules import DEFAULTS, EffectiveRules, merge

SIZE = 2048
#: The tables a catalogue holds (a transaction that wrote one of them reads the database).
PRACTICE_TABLES = frozenset(
    m.__tablename__
    for m in (
        AvailabilityException,
        AvailabilityRule,
        BookingRules,
        Closure,
        Location,
        Practitioner,
        VisitType,
        VisitTypeLocation,
        VisitTypePractitioner,
    )
)
#: How far back time off and closures are held (the engine looks a day around a range).
HORIZON = dt.timedelta(days=2)


@dataclass(frozen=True)
class Offer:
    """A practitioner offering a visit type at a location (both active)."""

    practitioner_id: uuid.UUID
    practitioner_name: str
    location_id: uuid.UUID
    location_name: str
    location_kind: str
    timezone: str


@dataclass(frozen=True)
class Catalogue:
    """One clinic's practice at one ``config`` version (see the module's decisions)."""

    tenant_id: uuid.UUID
    config: int
    since: dt.datetime  #: time off and closures are complete from here on
    visit_types: dict[uuid.UUID, VisitType]
    practitioners: dict[uuid.UUID, Practitioner]
    locations: dict[uuid.UUID, Location]
    #: visit type id -> active offers, ordered by practitioner then location name
    offers: dict[uuid.UUID, tuple[Offer, ...]]
    rules: dict[uuid.UUID | None, EffectiveRules]
    windows: tuple[engine.WeeklyWindow, ...]
    extra_hours: tuple[engine.Span, ...]
    time_off: tuple[engine.Span, ...]
    closures: tuple[engine.ClosureDays, ...]
    _by_practitioner: dict = field(default_factory=dict, repr=False, compare=False)

    def offerings(self, visit_type_id, *, practitioner_id=None, location_id=None) -> list[Offer]:
        """Active (practitioner, location) pairs offering a visit type, optionally narrowed."""
        return [
            o
            for o in self.offers.get(visit_type_id, ())
            if (practitioner_id is None or o.practitioner_id == practitioner_id)
            and (location_id is None or o.location_id == location_id)
        ]

    def rules_for(self, visit_type_id) -> EffectiveRules:
        """The booking rules in force for a visit type (clinic defaults merged in)."""
        return self.rules.get(visit_type_id) or self.rules[None]

    def bookable(self, today: dt.date) -> bool:
        """An active visit type is offered by an active practitioner with hours where offered.

        The catalogue's reading of ``tenants.onboarding.bookable_offer_exists``.
        """
        hours = {
            (w.practitioner_id, w.location_id)
            for w in self.windows
            if w.valid_until is None or w.valid_until >= today
        }
        return any(
            (o.practitioner_id, o.location_id) in hours
            for vid, offers in self.offers.items()
            if self.visit_types[vid].is_active
            for o in offers
        )

    def covers(self, start: dt.datetime) -> bool:
        """True when time off and closures from ``start`` on are all held."""
        return start >= self.since

    def practice_schedule(
        self,
        practitioner_ids: Iterable[uuid.UUID],
        location_ids: Iterable[uuid.UUID],
        lo: dt.datetime,
        hi: dt.datetime,
    ) -> tuple[list, list, list, list]:
        """(windows, extra hours, time off, closures) that can affect ``[lo, hi)``."""
        pids, lids = set(practitioner_ids), set(location_ids)
        lo_day, hi_day = lo.date() - dt.timedelta(days=1), hi.date() + dt.timedelta(days=1)
        windows = [
            w
            for w in self.windows
            if w.practitioner_id in pids
            and w.location_id in lids
            and (w.valid_from is None or w.valid_from <= hi_day)
            and (w.valid_until is None or w.valid_until >= lo_day)
        ]
        extra = [
            s for s in self.extra_hours if s.practitioner_id in pids and s.start < hi and s.end > lo
        ]
        off = [
            s for s in self.time_off if s.practitioner_id in pids and s.start < hi and s.end > lo
        ]
        closures = [
            c
            for c in self.closures
            if (c.location_id is None or c.location_id in lids)
            and c.start_date <= hi_day
            and c.end_date >= lo_day
        ]
        return windows, extra, off, closures


class _Cache:
    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[uuid.UUID, Catalogue] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, tenant_id: uuid.UUID) -> Catalogue | None:
        with self.lock:
            found = self.entries.get(tenant_id)
            if found is not None:
                self.entries.move_to_end(tenant_id)
            return found

    def put(self, cat: Catalogue) -> None:
        with self.lock:
            self.entries[cat.tenant_id] = cat
            self.entries.move_to_end(cat.tenant_id)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


_CACHE = _Cache(SIZE)


def _rows(sess: Session, model, tenant_id) -> dict:
    return {row.id: row for row in sess.scalars(select(model).where(model.tenant_id == tenant_id))}


def load(
    sess: Session, tenant_id: uuid.UUID, config: int, *, now: dt.datetime | None = None
) -> Catalogue:
    """Read one clinic's practice (nine small indexed queries) in ``sess``'s transaction.

    The rows are loaded by a side session on the same connection, so the caller's own
    instances (which it may be about to change) are never the catalogue's.
    """
    side = Session(bind=sess.connection(), expire_on_commit=False, autoflush=False)
    try:
        return _load(side, tenant_id, config, now)
    finally:
        side.expunge_all()
        side.close()


def _load(sess: Session, tenant_id: uuid.UUID, config: int, now: dt.datetime | None) -> Catalogue:
    since = (now or utcnow()) - HORIZON
    visit_types = _rows(sess, VisitType, tenant_id)
    practitioners = _rows(sess, Practitioner, tenant_id)
    locations = _rows(sess, Location, tenant_id)
    by_type_p: dict[uuid.UUID, list[uuid.UUID]] = {}
    for sid, pid in sess.execute(
        select(VisitTypePractitioner.service_id, VisitTypePractitioner.practitioner_id).where(
            VisitTypePractitioner.tenant_id == tenant_id
        )
    ):
        by_type_p.setdefault(sid, []).append(pid)
    by_type_l: dict[uuid.UUID, list[uuid.UUID]] = {}
    for sid, lid in sess.execute(
        select(VisitTypeLocation.service_id, VisitTypeLocation.location_id).where(
            VisitTypeLocation.tenant_id == tenant_id
        )
    ):
        by_type_l.setdefault(sid, []).append(lid)
    offers = {}
    for sid in visit_types:
        pairs = [
            (practitioners[pid], locations[lid])
            for pid in by_type_p.get(sid, ())
            for lid in by_type_l.get(sid, ())
            if practitioners[pid].is_active and locations[lid].is_active
        ]
        pairs.sort(key=lambda pl: (pl[0].display_name, pl[1].name))
        offers[sid] = tuple(
            Offer(p.id, p.display_name, loc.id, loc.name, loc.kind, loc.timezone)
            for p, loc in pairs
        )
    rule_rows = list(sess.scalars(select(BookingRules).where(BookingRules.tenant_id == tenant_id)))
    clinic_row = next((r for r in rule_rows if r.service_id is None), None)
    by_service = {r.service_id: r for r in rule_rows if r.service_id is not None}
    rules: dict[uuid.UUID | None, EffectiveRules] = {
        None: merge(clinic_row, None) if clinic_row else DEFAULTS
    }
    for sid in visit_types:
        rules[sid] = merge(clinic_row, by_service.get(sid))
    windows = tuple(
        engine.WeeklyWindow(*row)
        for row in sess.execute(
            select(
                AvailabilityRule.practitioner_id,
                AvailabilityRule.location_id,
                AvailabilityRule.weekday,
                AvailabilityRule.start_time,
                AvailabilityRule.end_time,
                AvailabilityRule.valid_from,
                AvailabilityRule.valid_until,
            ).where(
                AvailabilityRule.tenant_id == tenant_id,
                or_(
                    AvailabilityRule.valid_until.is_(None),
                    AvailabilityRule.valid_until >= since.date() - HORIZON,
                ),
            )
        )
    )
    extra, time_off = [], []
    for pid, lid, kind, s, e in sess.execute(
        select(
            AvailabilityException.practitioner_id,
            AvailabilityException.location_id,
            AvailabilityException.kind,
            AvailabilityException.starts_at,
            AvailabilityException.ends_at,
        ).where(AvailabilityException.tenant_id == tenant_id, AvailabilityException.ends_at > since)
    ):
        (extra if kind == "extra_hours" else time_off).append(engine.Span(pid, s, e, lid))
    closures = tuple(
        engine.ClosureDays(*row)
        for row in sess.execute(
            select(Closure.location_id, Closure.start_date, Closure.end_date).where(
                Closure.tenant_id == tenant_id, Closure.end_date >= since.date() - HORIZON
            )
        )
    )
    return Catalogue(
        tenant_id=tenant_id,
        config=config,
        since=since,
        visit_types=visit_types,
        practitioners=practitioners,
        locations=locations,
        offers=offers,
        rules=rules,
        windows=windows,
        extra_hours=tuple(extra),
        time_off=tuple(time_off),
        closures=closures,
    )


def current(sess: Session, tenant_id) -> Catalogue | None:
    """The clinic's catalogue at this transaction's ``config`` version, or None (read the DB).

    None when the transaction has written to the practice, or ``tenant_id`` is not the clinic
    bound to it.
    """
    seen = db.versions(sess, unless_wrote=PRACTICE_TABLES)
    if seen is None or sess.info.get(db.TENANT_KEY) != str(tenant_id):
        return None
    tenant_id = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    cat = _CACHE.get(tenant_id)
    if cat is not None and cat.config == seen.config:
        return cat
    cat = load(sess, tenant_id, seen.config)
    _CACHE.put(cat)
    return cat


# -- free times -------------------------------------------------------------------------------

#: How long a computed list of free times may serve (it is also dropped at once by any change
#: to the clinic's practice or bookings, see :class:`FreeTimes`).
FREE_TIMES_TTL = dt.timedelta(seconds=60)


class FreeTimes:
    """Computed free starts by (clinic, query, ``config``, ``bookings``), for a short while.

    The key holds both schedule counters, which the transaction that books, cancels, moves
    or changes the practice bumps before it commits; the next request reads the new
    counters and computes afresh, so a taken time is never served after the taking
    transaction committed (a request already running when it commits may still show it,
    and the exclusion constraint refuses the booking). Every entry's key starts with the
    clinic's id: one clinic's times can never answer another's query. Entries live at most
    :data:`FREE_TIMES_TTL`; starts that became too soon since are dropped on the way out
    (:func:`fresh`), starts that came into the booking window meanwhile appear at the
    next computation.
    """

    def __init__(self, size: int = 4096):
        self.size = size
        self.entries: OrderedDict[tuple, tuple[dt.datetime, object]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, now: dt.datetime):
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                return None
            at, value = found
            if now - at > FREE_TIMES_TTL or now < at:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return value

    def put(self, key: tuple, now: dt.datetime, value) -> None:
        with self.lock:
            self.entries[key] = (now, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


FREE_TIMES = FreeTimes()


def free_times_key(sess: Session, cat: Catalogue, *parts) -> tuple | None:
    """The cache key of a free-times query in this transaction, or None when not cacheable."""
    seen = db.versions(sess)
    if seen is None or seen.config != cat.config:
        return None
    return (cat.tenant_id, cat.config, seen.bookings, *parts)


def fresh(found: list, now: dt.datetime, min_notice: dt.timedelta) -> list:
    """Cached starts that are still far enough ahead."""
    first = now + min_notice
    return [s for s in found if s.start >= first]
