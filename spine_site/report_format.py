"""How the funnel report reads: percentages, durations, and its CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from .reports import Report


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def duration(value: timedelta | None) -> str:
    if value is None:
        return "n/a"
    minutes = round(value.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def report_rows(report: Report) -> Iterator[list[str]]:
    """The report as CSV rows: section, item, measure, value (long form, one number a row)."""
    yield ["section", "item", "measure", "value"]
    yield ["period", "from", "date", report.day_from.isoformat()]
    yield ["period", "to", "date", report.day_to.isoformat()]
    yield ["totals", "all pages", "views", str(report.views_total)]
    yield ["totals", "all forms", "leads", str(report.leads_total)]
    yield ["totals", "spam held back", "leads", str(report.spam_count)]
    for day in report.days:
        yield ["per day", day.isoformat(), "views", str(report.views_per_day[day])]
        for form, count in report.leads_per_day[day].items():
            yield ["per day", day.isoformat(), f"{form.value} leads", str(count)]
    for form, count in report.by_form.items():
        yield ["by form", form.value, "leads", str(count)]
    for source, count in report.by_source:
        yield ["by source", source, "leads", str(count)]
    for place in report.places:
        item = f"{place.page} ({place.placement})"
        yield ["by place", item, "views", str(place.views)]
        yield ["by place", item, "appointment leads", str(place.appointments)]
        yield ["by place", item, "guide leads", str(place.guides)]
        yield ["by place", item, "conversion", percent(place.rate)]
    for name, steps in (
        ("appointment funnel", report.appointment_funnel),
        ("guide funnel", report.guide_funnel),
    ):
        for step in steps:
            yield [name, step.label, "count", str(step.count)]
            if step.rate is not None:
                yield [name, step.label, "rate from previous step", percent(step.rate)]
    yield ["guide", "email to download", "rate", percent(report.guide_download_rate)]
    first_contact = report.median_first_contact
    minutes = "" if first_contact is None else f"{first_contact.total_seconds() / 60:.0f}"
    yield ["contact", "median time to first contact", "minutes", minutes]
    for path, views in report.page_views:
        yield ["page views", path, "views", str(views)]
