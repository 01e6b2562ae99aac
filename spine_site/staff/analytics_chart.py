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

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 12, 28
COLOURS = {FormKind.APPOINTMENT: "#124a6e", FormKind.GUIDE: "#5b9bc4"}
NAMES = {FormKind.APPOINTMENT: "appointment requests", FormKind.GUIDE: "guide requests"}


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
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Leads per day</title>',
        f'<desc id="chart-desc">Requests per day from {_label(days[0])} to {_label(days[-1])}, '
        f"{report.leads_total} in all; the table below gives each day's numbers.</desc>",
    ]
    for tick in sorted({0, top // 2, top}):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d5dde3" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#3d4c57">{tick}</text>'
        )
    label_every = max(1, math.ceil(len(days) / 8))
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
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                    f'fill="{COLOURS[kind]}" data-day="{day.isoformat()}" '
                    f'data-form="{kind.value}" data-count="{counts[kind]}"/>'
                )
        parts.append("</g>")
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'font-size="11" fill="#3d4c57">{escape(_label(day))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
