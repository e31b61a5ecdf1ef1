"""The slot engine: a pure function from a schedule to free start times. No database.

Inputs are plain dataclasses (:class:`Schedule`, :class:`Visit`, :class:`Policy`); the
caller (``queries.search_slots``) loads them for one clinic. All instants are aware
datetimes; weekly rules are wall-clock times in each location's IANA zone, expanded per
local calendar day with :mod:`zoneinfo`.

Decisions (what a clinic expects):

- **Availability** is the union of weekly windows and extra hours of a practitioner at a
  location. The visit itself (start to end) must lie inside it; its buffers may run past
  the end of a window (notes after the last patient) but never into another appointment,
  time off or a closure.
- **Blocked time** is every active appointment's ``occupied`` range (visit plus its own
  buffers; lapsed holds excluded), the practitioner's time off (at every location), and
  closures of the location or the whole clinic (whole local days). A candidate start ``s``
  is free when ``[s - buffer_before, s + duration + buffer_after)`` overlaps none of them.
- **Grid:** starts step by ``Policy.step`` on the wall clock from the start of each
  availability interval (09:00, 09:15, ... for a 15-minute step).
- **DST:** a wall-clock time that does not exist (spring forward, 02:30 in Berlin) is never
  offered; a wall-clock time that happens twice (fall back) is offered once, at its first
  occurrence, so a patient never sees "02:30" twice. Window starts and ends that happen
  twice are likewise read at their first occurrence (the clock first shows them), and a
  window edge inside a gap is the moment the clocks jump. Durations are real elapsed time.
- **Policy:** starts earlier than ``now + min_notice`` or later than ``now + max_advance``
  are not offered.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Practitioner P works at location L on ISO weekday W from ``start`` to ``end``."""

    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    weekday: int
    start: dt.time
    end: dt.time
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def applies_on(self, day: dt.date) -> bool:
        """True when this window is in force on local date ``day``."""
        return (
            day.isoweekday() == self.weekday
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True, slots=True)
class Span:
    """An instant range ``[start, end)`` of one practitioner (None = every practitioner).

    Used for extra hours (with a location), time off (location None = everywhere) and
    busy appointments (``occupied``).
    """

    practitioner_id: uuid.UUID | None
    start: dt.datetime
    end: dt.datetime
    location_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ClosureDays:
    """Whole local days a location (None = every location) is closed, inclusive."""

    location_id: uuid.UUID | None
    start_date: dt.date
    end_date: dt.date


@dataclass
class Schedule:
    """Everything the engine needs about one clinic's calendar around the searched range."""

    zones: Mapping[uuid.UUID, ZoneInfo]  #: location id -> zone
    windows: Sequence[WeeklyWindow] = ()
    extra_hours: Sequence[Span] = ()
    time_off: Sequence[Span] = ()
    closures: Sequence[ClosureDays] = ()
    busy: Sequence[Span] = ()  #: occupied ranges of active appointments
    #: The same, pre-grouped: practitioner id -> [(start, end), ...] (what the database loader
    #: passes: a few lists instead of thousands of small objects for the garbage collector).
    busy_by_practitioner: Mapping[uuid.UUID, Sequence[tuple[dt.datetime, dt.datetime]]] = field(
        default_factory=dict
    )

    @cached_property
    def _windows_by_pair(self) -> dict:
        grouped: dict = defaultdict(list)
        for w in self.windows:
            grouped[(w.practitioner_id, w.location_id)].append(w)
        return grouped

    @cached_property
    def _busy_by_practitioner(self) -> dict:
        """Merged UTC intervals per practitioner, computed once per schedule."""
        grouped: dict = defaultdict(list)
        for b in self.busy:
            grouped[b.practitioner_id].append((b.start.astimezone(UTC), b.end.astimezone(UTC)))
        for p, intervals in self.busy_by_practitioner.items():
            grouped[p].extend(intervals)
        return {p: _merge(intervals) for p, intervals in grouped.items()}

    def windows_for(self, practitioner_id, location_id) -> list[WeeklyWindow]:
        """Weekly windows of one practitioner at one location."""
        return self._windows_by_pair.get((practitioner_id, location_id), [])

    def busy_for(self, practitioner_id) -> list[list[dt.datetime]]:
        """Occupied ranges of one practitioner's active appointments (merged, UTC; read-only)."""
        return self._busy_by_practitioner.get(practitioner_id, [])


@dataclass(frozen=True, slots=True)
class Visit:
    """What is being booked: the visit's length and the buffers it needs around it."""

    duration: dt.timedelta
    buffer_before: dt.timedelta = dt.timedelta(0)
    buffer_after: dt.timedelta = dt.timedelta(0)


@dataclass(frozen=True, slots=True)
class Policy:
    """Booking rules the engine applies."""

    step: dt.timedelta = dt.timedelta(minutes=15)
    min_notice: dt.timedelta = dt.timedelta(0)
    max_advance: dt.timedelta = dt.timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Slot:
    """A free start: ``start``/``end`` are in the location's zone."""

    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime


# -- local time -> instant ---------------------------------------------------------------------


def _exists(naive: dt.datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _gap_end(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant clocks jumped over ``naive`` (a wall time inside a spring-forward gap)."""
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the later offset
    hi = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the earlier offset
    lo, hi = min(lo, hi), max(lo, hi)
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def local_to_utc(naive: dt.datetime, zone: ZoneInfo, *, latest: bool = False) -> dt.datetime:
    """The instant a wall-clock time denotes in ``zone``.

    A time inside a DST gap maps to the moment the clocks jumped; a time that occurs twice
    maps to its first occurrence, or the second with ``latest`` (used for window ends).
    """
    if not _exists(naive, zone):
        return _gap_end(naive, zone)
    return naive.replace(tzinfo=zone, fold=1 if latest else 0).astimezone(UTC)


# -- intervals ---------------------------------------------------------------------------------


def _merge(
    intervals: Iterable[tuple[dt.datetime, dt.datetime]], *, touching: bool = True
) -> list[list[dt.datetime]]:
    """Sort and merge overlapping intervals (and touching ones, unless ``touching=False``).

    Half-open ranges ``[a, b)`` merge when touching; open ranges ``(a, b)`` must not, since
    ``b`` itself belongs to neither.
    """
    merged: list[list[dt.datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and (start <= merged[-1][1] if touching else start < merged[-1][1]):
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


def _local_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Iterator[dt.date]:
    """Every local date in ``zone`` that ``[start, end)`` touches, with a day of margin."""
    day = start.astimezone(zone).date() - ONE_DAY
    last = end.astimezone(zone).date() + ONE_DAY
    while day <= last:
        yield day
        day += ONE_DAY


def availability(
    schedule: Schedule,
    practitioner_id: uuid.UUID,
    location_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
) -> list[list[dt.datetime]]:
    """Merged availability intervals (UTC) of one practitioner at one location near a range."""
    zone = schedule.zones[location_id]
    windows = schedule.windows_for(practitioner_id, location_id)
    raw: list[tuple[dt.datetime, dt.datetime]] = []
    if windows:
        by_weekday: dict[int, list[WeeklyWindow]] = defaultdict(list)
        for w in windows:
            by_weekday[w.weekday].append(w)
        for day in _local_days(start, end, zone):
            for w in by_weekday.get(day.isoweekday(), ()):
                if w.applies_on(day):
                    raw.append(
                        (
                            local_to_utc(dt.datetime.combine(day, w.start), zone),
                            local_to_utc(dt.datetime.combine(day, w.end), zone),
                        )
                    )
    for span in schedule.extra_hours:
        if span.practitioner_id == practitioner_id and span.location_id == location_id:
            raw.append((span.start.astimezone(UTC), span.end.astimezone(UTC)))
    lo, hi = start - ONE_DAY, end + ONE_DAY
    return [iv for iv in _merge(raw) if iv[1] > lo and iv[0] < hi]


def blocked(
    schedule: Schedule, practitioner_id: uuid.UUID, location_id: uuid.UUID, *, kinds=None
) -> list[list[dt.datetime]]:
    """Merged blocked intervals (UTC) for one practitioner at one location.

    ``kinds`` limits to some of ``{"busy", "time_off", "closed"}`` (used to explain refusals).
    """
    kinds = kinds or ("busy", "time_off", "closed")
    raw: list[tuple[dt.datetime, dt.datetime]] = []
    if "time_off" in kinds:
        raw += [
            (t.start, t.end)
            for t in schedule.time_off
            if t.practitioner_id in (None, practitioner_id) and t.location_id in (None, location_id)
        ]
    if "closed" in kinds:
        zone = schedule.zones[location_id]
        for c in schedule.closures:
            if c.location_id in (None, location_id):
                raw.append(
                    (
                        local_to_utc(dt.datetime.combine(c.start_date, dt.time()), zone),
                        local_to_utc(dt.datetime.combine(c.end_date + ONE_DAY, dt.time()), zone),
                    )
                )
    busy = schedule.busy_for(practitioner_id) if "busy" in kinds else []
    if not raw:
        return busy  # already merged and in UTC
    return _merge(
        [*((a, b) for a, b in busy), *((s.astimezone(UTC), e.astimezone(UTC)) for s, e in raw)]
    )


def _grid(
    interval_start: dt.datetime,
    interval_end: dt.datetime,
    zone: ZoneInfo,
    step: dt.timedelta,
    duration: dt.timedelta,
) -> Iterator[dt.datetime]:
    """Candidate starts (UTC) in one availability interval whose visit fits inside it."""
    last = interval_end - duration
    if last < interval_start:
        return
    start_offset = interval_start.astimezone(zone).utcoffset()
    if interval_end.astimezone(zone).utcoffset() == start_offset:
        # no DST change inside: the wall-clock grid is a UTC grid
        s = interval_start
        while s <= last:
            yield s
            s += step
        return
    # a DST change inside the interval: walk the wall clock, skip times that do not exist,
    # and take repeated times at their first occurrence only
    wall = interval_start.astimezone(zone).replace(tzinfo=None)
    stop = interval_end.astimezone(zone).replace(tzinfo=None) + ONE_DAY  # safety bound
    previous = None
    while wall <= stop:
        if _exists(wall, zone):  # times inside a spring-forward gap are skipped
            s = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if s > last:
                return
            if s >= interval_start and (previous is None or s > previous):
                yield s
                previous = s
        wall += step


def _forbidden(blocks: list[list[dt.datetime]], visit: Visit) -> list[list[dt.datetime]]:
    """Open intervals of starts whose occupied range would overlap a block."""
    before = visit.duration + visit.buffer_after
    return _merge(((b[0] - before, b[1] + visit.buffer_before) for b in blocks), touching=False)


def _utc_grid_free(
    a: dt.datetime,
    last: dt.datetime,
    step: dt.timedelta,
    earliest: dt.datetime,
    end: dt.datetime,
    forbidden: list[list[dt.datetime]],
    lows: list[dt.datetime],
) -> Iterator[dt.datetime]:
    """Starts ``a + k * step`` in ``[earliest, end)``, at most ``last``, outside ``forbidden``.

    The same starts as walking :func:`_grid` candidate by candidate (the engine's property
    tests compare it with a brute force), but a start inside a forbidden interval
    ``(low, high)`` jumps straight to the first grid point at or after ``high``.
    """
    k = max(0, -((a - earliest) // step))  # the first k with a + k * step >= earliest
    s = a + k * step
    while s <= last and s < end:
        i = bisect.bisect_left(lows, s) - 1
        # open interval (low, high): s is forbidden when low < s < high
        if i >= 0 and forbidden[i][0] < s < forbidden[i][1]:
            k = -((a - forbidden[i][1]) // step)  # the first grid point >= high
            s = a + k * step
            continue
        yield s
        k += 1
        s = a + k * step


def _free_starts(
    schedule: Schedule,
    visit: Visit,
    policy: Policy,
    offerings: Iterable[tuple[uuid.UUID, uuid.UUID]],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> Iterator[tuple[dt.datetime, uuid.UUID, uuid.UUID]]:
    """Every free start (UTC) with its practitioner and location, offering by offering."""
    # aware arithmetic in a ZoneInfo is wall-clock arithmetic: compute in UTC only
    start, end, now = start.astimezone(UTC), end.astimezone(UTC), now.astimezone(UTC)
    earliest = max(start, now + policy.min_notice)
    latest_start = now + policy.max_advance
    for practitioner_id, location_id in offerings:
        zone = schedule.zones[location_id]
        hours = [
            (a, b)
            for a, b in availability(schedule, practitioner_id, location_id, start, end)
            if b > earliest and a < end
        ]
        if not hours:
            continue
        forbidden = _forbidden(blocked(schedule, practitioner_id, location_id), visit)
        lows = [f[0] for f in forbidden]
        for a, b in hours:
            if a.astimezone(zone).utcoffset() == b.astimezone(zone).utcoffset():
                # no DST change inside: the grid is a + k * step in UTC, and a booked stretch
                # is jumped over in one step instead of walked through (a busy month has far
                # more taken candidates than free ones)
                yield from (
                    (s, practitioner_id, location_id)
                    for s in _utc_grid_free(
                        a,
                        min(b - visit.duration, latest_start),
                        policy.step,
                        earliest,
                        end,
                        forbidden,
                        lows,
                    )
                )
                continue
            for s in _grid(a, b, zone, policy.step, visit.duration):
                if s < earliest:
                    continue
                if s >= end or s > latest_start:
                    break
                i = bisect.bisect_left(lows, s) - 1
                # open interval (low, high): s is forbidden when low < s < high
                if i >= 0 and forbidden[i][0] < s < forbidden[i][1]:
                    continue
                yield s, practitioner_id, location_id


def free_slots(
    schedule: Schedule,
    visit: Visit,
    policy: Policy,
    offerings: Iterable[tuple[uuid.UUID, uuid.UUID]],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> list[Slot]:
    """Free starts in ``[start, end)`` for each (practitioner, location) pair in ``offerings``.

    Sorted by start, then practitioner and location ids. Pure: same inputs, same slots.
    """
    found = sorted(_free_starts(schedule, visit, policy, offerings, start, end, now))
    return [
        Slot(
            p,
            loc,
            s.astimezone(schedule.zones[loc]),
            (s + visit.duration).astimezone(schedule.zones[loc]),
        )
        for s, p, loc in found
    ]


def free_starts_by_day(
    schedule: Schedule,
    visit: Visit,
    policy: Policy,
    offerings: Iterable[tuple[uuid.UUID, uuid.UUID]],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    zone: ZoneInfo,
) -> dict[dt.date, list[dt.datetime]]:
    """The starts :func:`free_slots` finds, as sorted UTC instants per local day of ``zone``.

    One pass for a whole month: no :class:`Slot` objects and no sort across the month (each
    day's list is short), so a month of ten practitioners costs a fraction of
    :func:`free_slots`. ``len`` of a day's list is the number of slots that day (one per
    practitioner and place, as in :func:`free_slots`); the instants let a cached answer
    drop starts that have since come inside the minimum notice (:func:`count_from`).
    """
    days: dict[dt.date, list[dt.datetime]] = defaultdict(list)
    for s, _p, _loc in _free_starts(schedule, visit, policy, offerings, start, end, now):
        days[s.astimezone(zone).date()].append(s)
    for starts in days.values():
        starts.sort()
    return dict(days)


def count_from(days: Mapping[dt.date, list[dt.datetime]], first: dt.datetime) -> dict:
    """``{day: number of starts at or after first}`` for :func:`free_starts_by_day`'s answer."""
    counts = {}
    for day, starts in days.items():
        n = len(starts) - bisect.bisect_left(starts, first)
        if n:
            counts[day] = n
    return counts


def check_slot(
    schedule: Schedule,
    visit: Visit,
    policy: Policy,
    practitioner_id: uuid.UUID,
    location_id: uuid.UUID,
    start: dt.datetime,
    now: dt.datetime,
    *,
    enforce_notice: bool = True,
) -> str | None:
    """Why ``start`` cannot be booked, as a machine-readable reason, or None when it can.

    Reasons, in the order they are checked: ``in_past``, ``too_soon``, ``too_far_ahead``,
    ``outside_availability`` (not a start the practitioner offers there, or time off),
    ``clinic_closed``, ``slot_taken`` (an active appointment or its buffer overlaps).
    ``enforce_notice=False`` (staff booking) skips the notice and advance limits.
    """
    start, now = start.astimezone(UTC), now.astimezone(UTC)
    if start < now:
        return "in_past"
    if enforce_notice:
        if start < now + policy.min_notice:
            return "too_soon"
        if start > now + policy.max_advance:
            return "too_far_ahead"
    zone = schedule.zones[location_id]
    on_grid = False
    for a, b in availability(schedule, practitioner_id, location_id, start, start + ONE_DAY):
        if a <= start <= b - visit.duration:
            on_grid = any(s == start for s in _grid(a, b, zone, policy.step, visit.duration))
            break
    if not on_grid:
        return "outside_availability"
    for kind, reason in (
        ("time_off", "outside_availability"),
        ("closed", "clinic_closed"),
        ("busy", "slot_taken"),
    ):
        for low, high in _forbidden(
            blocked(schedule, practitioner_id, location_id, kinds=(kind,)), visit
        ):
            if low < start < high:
                return reason
    return None
