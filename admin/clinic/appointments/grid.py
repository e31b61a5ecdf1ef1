"""The calendar's layout: where each visit, working hour and closure sits. No database.

A day is drawn in *elapsed* time, five minutes per grid row, from the instant its first
shown wall-clock hour begins to the instant its last one ends, in the clinic's zone. So a
day with a DST change is drawn as long as it really is: on a 23-hour day the row after
01:55 is 03:00, on a 25-hour day the hour from 02:00 appears twice (labelled with the zone's
abbreviation, e.g. "02:00 CEST" then "02:00 CET"), and a visit keeps its real length.

The page places items with classes (``rs-<row>`` / ``re-<row>``, see :func:`grid_css`)
rather than style attributes, which the Content Security Policy forbids.

Decisions:

- Shown hours: 07:00–20:00 by default, widened to whole hours to include every working
  window and visit of the days shown; "whole day" shows 00:00–24:00.
- Overlapping items of one column (a cancelled visit and the new booking in its time) are
  laid side by side in lanes (at most :data:`MAX_LANES`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from saas.scheduling.slots import local_to_utc

ROW = dt.timedelta(minutes=5)
#: Longest drawable day: 25 hours of five-minute rows.
MAX_ROWS = 25 * 12
MAX_LANES = 4
DEFAULT_HOURS = (7, 20)

#: Each state's label and CSS class; the class adds a pattern and an icon, never colour alone.
STATES = {
    "held": "Held (awaiting payment)",
    "confirmed": "Confirmed",
    "checked_in": "Checked in",
    "completed": "Completed",
    "no_show": "No-show",
    "cancelled": "Cancelled",
    "expired": "Hold expired",
}
SHORT = {
    "held": "Held",
    "confirmed": "Confirmed",
    "checked_in": "Checked in",
    "completed": "Completed",
    "no_show": "No-show",
    "cancelled": "Cancelled",
    "expired": "Expired",
}


@dataclass
class Frame:
    """One local day's drawn window: instants, rows and hour labels."""

    day: dt.date
    start: dt.datetime  #: UTC instant of the first row
    end: dt.datetime  #: UTC instant after the last row
    rows: int
    #: (row, label) of every wall-clock hour that starts inside the window
    hours: list[tuple[int, str]]
    #: length of the whole local day in hours (23, 24 or 25 on DST days)
    day_hours: float

    def row_of(self, instant: dt.datetime) -> int:
        """The grid line (1-based) of ``instant``, clamped to the window."""
        offset = (instant - self.start) // ROW
        return max(1, min(self.rows + 1, 1 + offset))

    def instant_of(self, row: int) -> dt.datetime:
        """The instant a grid line stands for."""
        return self.start + (row - 1) * ROW


@dataclass
class Block:
    """Something drawn in a column: a visit (``item`` set) or a shaded span."""

    kind: str  #: appointment, work, time_off, closed
    row_start: int
    row_end: int
    label: str = ""
    item: object | None = None
    lane: int = 1

    @property
    def css(self) -> str:
        """Placement classes: lane and grid rows."""
        return f"lane-{self.lane} rs-{self.row_start} re-{self.row_end}"


@dataclass
class Column:
    """One practitioner on one day."""

    practitioner_id: object
    practitioner: str
    frame: Frame
    shades: list[Block] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    lanes: int = 1
    #: the column's drawn body, set by :func:`.cells.column_bodies`
    body: str = ""


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of a local day's first moment and of the next day's."""
    return (
        local_to_utc(dt.datetime.combine(day, dt.time()), zone),
        local_to_utc(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), zone),
    )


def shown_hours(
    zone: ZoneInfo,
    spans: list[tuple[dt.datetime, dt.datetime]],
    *,
    whole_day: bool = False,
) -> tuple[int, int]:
    """The wall-clock hours ``(first, last)`` to draw so every span fits (0..24)."""
    if whole_day:
        return 0, 24
    lo, hi = DEFAULT_HOURS
    for start, end in spans:
        s, e = start.astimezone(zone), end.astimezone(zone)
        lo = min(lo, s.hour)
        if e.date() > s.date():
            hi = 24
        else:
            hi = max(hi, e.hour + (1 if (e.minute or e.second) else 0))
    return lo, hi


@functools.lru_cache(maxsize=512)
def frame(day: dt.date, zone: ZoneInfo, hours: tuple[int, int]) -> Frame:
    """The window of ``day`` from wall-clock hour ``hours[0]`` to ``hours[1]`` (24 = midnight).

    Depends on its arguments only, so it is cached: a week's seven frames walk some 1,100
    five-minute rows through the zone. Callers read a frame, never change it.
    """
    first, last = hours
    midnight, next_midnight = day_bounds(day, zone)
    start = midnight if first == 0 else local_to_utc(dt.datetime.combine(day, dt.time(first)), zone)
    if last >= 24:
        end = next_midnight
    else:
        end = local_to_utc(dt.datetime.combine(day, dt.time(last)), zone, latest=True)
    rows = max(1, math.ceil((end - start) / ROW))
    labels, seen = [], {}
    for r in range(rows):
        local = (start + r * ROW).astimezone(zone)
        if local.minute == 0 and local.second == 0:
            text = local.strftime("%H:%M")
            seen[text] = seen.get(text, 0) + 1
            labels.append((r + 1, text, local.strftime("%Z")))
    repeated = {t for t, n in seen.items() if n > 1}
    hours_out = [(r, f"{t} {abbr}" if t in repeated else t) for r, t, abbr in labels]
    return Frame(
        day=day,
        start=start,
        end=end,
        rows=rows,
        hours=hours_out,
        day_hours=(next_midnight - midnight) / dt.timedelta(hours=1),
    )


def place(fr: Frame, start: dt.datetime, end: dt.datetime) -> tuple[int, int] | None:
    """Grid lines of ``[start, end)`` clipped to the frame (None when outside it)."""
    if end <= fr.start or start >= fr.end:
        return None
    a, b = fr.row_of(start), fr.row_of(end + ROW - dt.timedelta(microseconds=1))
    return a, max(b, a + 1)


def assign_lanes(blocks: list[Block]) -> int:
    """Give overlapping blocks side-by-side lanes; returns the lanes the column needs."""
    ends: list[int] = []  # last row end per lane
    for b in sorted(blocks, key=lambda b: (b.row_start, -b.row_end)):
        for i, end in enumerate(ends):
            if end <= b.row_start:
                ends[i] = b.row_end
                b.lane = i + 1
                break
        else:
            ends.append(b.row_end)
            b.lane = min(len(ends), MAX_LANES)
    return max(1, min(len(ends), MAX_LANES))


def grid_css(max_rows: int = MAX_ROWS) -> str:
    """The placement classes of ``static/calendar-rows.css`` (generated, checked by a test)."""
    lines = ["/* Generated by admin.clinic.appointments.grid.grid_css: do not edit. */"]
    for n in range(1, max_rows + 2):
        lines.append(f".rs-{n}{{grid-row-start:{n}}}.re-{n}{{grid-row-end:{n}}}")
    return "\n".join(lines) + "\n"
