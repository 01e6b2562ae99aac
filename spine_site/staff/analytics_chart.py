"""The analytics page's chart, drawn on the server as SVG: no script, no outside library.

Presentation attributes only (fill, x, y...), no style attributes: the page's CSP allows no
inline styles. The same numbers are in the table under the chart and in the CSV.
"""

from __future__ import annotations

import math
from datetime import date

from markupsafe import Markup, escape

from spine_site.analytics.reports import Report
from spine_site.models import FormKind

# No viewBox: one SVG unit is one CSS pixel, so text is drawn at its own size on every screen
# (a viewBox scaled to a 350 px phone would shrink 11-unit labels to 5 px). Positions are
# percentages of the chart's box, whose size the stylesheet sets (.chart), so the bars
# stretch to any width while the labels keep FONT_PX.
FONT_PX = 13
# The plot's margins, in percent of the chart's width and height: room for the y axis'
# numbers on the left and the day labels under the bars.
LEFT, RIGHT, TOP, BOTTOM = 9.0, 1.0, 5.0, 14.0
COLOURS = {FormKind.APPOINTMENT: "#124a6e", FormKind.GUIDE: "#5b9bc4"}
NAMES = {FormKind.APPOINTMENT: "appointment requests", FormKind.GUIDE: "guide requests"}
# At most this many day labels; every other one is "minor", hidden on a narrow screen.
DAY_LABELS = 8


def nice_top(value: int) -> int:
    """The y axis' top: the smallest of 1, 2, 5 x 10^n at or above the largest day."""
    if value <= 4:
        return max(value, 1)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _label(day: date) -> str:
    return f"{day.strftime('%b')} {day.day}"


def leads_chart(report: Report) -> Markup:
    """Leads per day, appointment and guide requests stacked, as an accessible SVG."""
    days = report.days
    totals = [sum(report.leads_per_day[d].values()) for d in days]
    top = nice_top(max(totals, default=0))
    plot_w, plot_h = 100 - LEFT - RIGHT, 100 - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = slot * 0.7
    text = f'font-size="{FONT_PX}" fill="#3d4c57"'
    parts = [
        '<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Leads per day</title>',
        f'<desc id="chart-desc">Requests per day from {_label(days[0])} to {_label(days[-1])}, '
        f"{report.leads_total} in all; the table below gives each day's numbers.</desc>",
    ]
    for tick in sorted({0, top // 2, top}):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{LEFT}%" x2="{100 - RIGHT}%" y1="{y:.2f}%" y2="{y:.2f}%" '
            f'stroke="#d5dde3" stroke-width="1"/>'
            f'<text x="{LEFT}%" dx="-6" y="{y:.2f}%" dy="0.35em" text-anchor="end" {text}>'
            f"{tick}</text>"
        )
    label_every = max(1, math.ceil(len(days) / DAY_LABELS))
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        base = TOP + plot_h
        counts = report.leads_per_day[day]
        summary = ", ".join(f"{counts[kind]} {NAMES[kind]}" for kind in FormKind)
        parts.append(f"<g><title>{escape(_label(day))}: {escape(summary)}</title>")
        for kind in FormKind:
            height = plot_h * counts[kind] / top
            if height:
                base -= height
                parts.append(
                    f'<rect x="{x:.2f}%" y="{base:.2f}%" width="{bar:.2f}%" '
                    f'height="{height:.2f}%" fill="{COLOURS[kind]}" '
                    f'data-day="{day.isoformat()}" data-form="{kind.value}" '
                    f'data-count="{counts[kind]}"/>'
                )
        parts.append("</g>")
        if i % label_every == 0:
            minor = ' class="minor"' if (i // label_every) % 2 else ""
            parts.append(
                f'<text{minor} x="{x + bar / 2:.2f}%" y="100%" dy="-0.6em" '
                f'text-anchor="middle" {text}>{escape(_label(day))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
