"""Hand-made, accessible SVG bar charts rendered on the server (no JavaScript, no dependency).

:func:`bar_chart` draws horizontal bars, one per (label, value), with ``<title>`` and
``<desc>`` (referenced by ``aria-labelledby``); the page puts the same figures in a table
next to it, which is the chart's text alternative.
"""

from __future__ import annotations

from markupsafe import Markup, escape

ROW, LABEL_W, BAR_W, PAD = 28, 190, 300, 8


def bar_chart(chart_id: str, title: str, desc: str, points, unit: str = "") -> Markup:
    """An SVG of ``points`` ([(label, value)]) as horizontal bars, scaled to the largest."""
    points = list(points)
    top = max((v for _, v in points), default=0) or 1
    if unit == "%":
        top = max(top, 100)
    height = PAD * 2 + ROW * max(len(points), 1)
    width = LABEL_W + BAR_W + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    if not points:
        parts.append(f'<text x="{PAD}" y="{PAD + 18}">No figures for this period.</text>')
    for i, (label, value) in enumerate(points):
        y = PAD + i * ROW
        w = round(BAR_W * (value / top), 1) if value else 0
        shown = f"{value:g}{unit}"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 18}" text-anchor="end" font-size="13" '
            f'fill="#1f2933">{escape(str(label))}</text>'
            f'<rect x="{LABEL_W}" y="{y + 5}" width="{w}" height="{ROW - 10}" fill="#2f5d8a"/>'
            f'<text x="{LABEL_W + w + 6}" y="{y + 18}" font-size="13" fill="#1f2933">'
            f"{escape(shown)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
