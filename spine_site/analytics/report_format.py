"""How the funnel report reads: percentages, durations, and its CSV rows (the first-contact
figures by week among them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from spine_site.analytics.intake_report import IntakeReport, IntakeWeek
from spine_site.analytics.reports import Report
from spine_site.web.i18n import LANGUAGES


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


def _number(value: float | None) -> str:
    # Medians of whole minutes are whole or halves: "45", "32.5"; "" when there is none.
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def week_label(week: IntakeWeek) -> str:
    return f"{week.first_day.isoformat()} to {week.last_day.isoformat()}"


def _week_measures(week: IntakeWeek) -> list[tuple[str, str]]:
    per_appointment = week.attempts_per_scheduled
    return [
        ("appointment requests", str(week.requests)),
        ("measured against the target", str(week.measured)),
        ("first tried within the target", str(week.within_target)),
        ("share first tried within the target", percent(week.share_within_target)),
        ("tried", str(week.attempted)),
        ("median business minutes to first attempt", _number(week.median_to_attempt)),
        ("reached", str(week.reached)),
        ("median business minutes to first reach", _number(week.median_to_reach)),
        ("scheduled", str(week.scheduled)),
        ("attempts on scheduled requests", str(week.scheduled_attempts)),
        (
            "attempts per scheduled appointment",
            "" if per_appointment is None else f"{per_appointment:.2f}",
        ),
    ]


def intake_rows(intake: IntakeReport) -> Iterator[list[str]]:
    """The first-contact figures as CSV rows, per week and for the whole period."""
    section = "first contact by week"
    yield [section, "target", "business minutes", str(intake.target_minutes)]
    labelled = [(week_label(week), week) for week in intake.weeks]
    per_language = [
        (f"whole period, {LANGUAGES.get(code, code)} requests", figures)
        for code, figures in intake.by_language.items()
    ]
    for item, week in [*labelled, ("whole period", intake.total), *per_language]:
        for measure, value in _week_measures(week):
            yield [section, item, measure, value]


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
    for row in report.by_language:
        yield ["by language", row.name, "views", str(row.views)]
        yield ["by language", row.name, "appointment leads", str(row.appointments)]
        yield ["by language", row.name, "guide leads", str(row.guides)]
        yield ["by language", row.name, "leads", str(row.leads)]
        yield ["by language", row.name, "conversion", percent(row.rate)]
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
    if report.intake is not None:
        yield from intake_rows(report.intake)
