"""The calendar's repeated markup, built once per column in Python.

A week of ten practitioners draws some 400 visits and 150 shaded spans. Written as Jinja
expressions each visit cost fifteen escapes and attribute look-ups, and the template was
half of the week view's time (profile in the README). Here each column's body is one
string: only the user-typed values (patient and visit type names, the page's own address)
are escaped, the rest are our own identifiers, numbers and state keys. ``_grid.html`` keeps
the page's structure (days, columns, headings) and inserts these bodies as they are.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from .grid import SHORT, Column

_SHADE = '<div class="shade sh-{kind} rs-{a} re-{b}">{label}</div>'


def column_bodies(
    columns: dict,
    *,
    appt_prefix: str,
    back_qs: str,
    can_move: bool,
    movable: tuple[str, ...],
) -> None:
    """Set ``col.body`` (markup of its shades and visits) on every column of every day."""
    prefix = str(escape(appt_prefix))
    back = str(escape(back_qs))
    for day_columns in columns.values():
        for col in day_columns:
            col.body = _body(col, prefix, back, can_move, movable)


def _body(col: Column, prefix: str, back: str, can_move: bool, movable) -> Markup:
    rows = col.frame.rows + 1
    out = [f'<div class="cal-fill rs-1 re-{rows}"></div>']
    for s in col.shades:
        label = "" if s.kind == "work" else f'<span class="shade-label">{escape(s.label)}</span>'
        out.append(_SHADE.format(kind=s.kind, a=s.row_start, b=s.row_end, label=label))
    for b in col.blocks:
        v = b.item
        who = escape(v.patient)
        move = ""
        if can_move and v.status in movable:
            move = (
                f' draggable="true" data-move="{prefix}{v.id}/reschedule"'
                f' data-location="{v.location_id}"'
            )
        out.append(
            f'<a class="appt st-{v.status} {b.css}" href="{prefix}{v.id}{back}"{move}'
            f' data-label="{who}">'
            f'<span class="appt-line"><span class="appt-time">{escape(v.time)}</span> '
            f'<span class="st-label">{SHORT[v.status]}</span></span>'
            f'<span class="appt-who">{who}</span>'
            f'<span class="appt-what">{escape(v.service)}</span></a>'
        )
    return Markup("".join(out))
