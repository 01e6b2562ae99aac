"""Funnel analytics for admin and marketing: the page and its CSV."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, render_template, request

from spine_site.analytics import report_format, reports
from spine_site.clock import clinic_today
from spine_site.leads.export import csv_document
from spine_site.models import FormKind
from spine_site.staff import analytics_chart
from spine_site.staff.access import acting_user, bp, parse_date
from spine_site.staff.lead_views import csv_download
from spine_site.web.forms import visible_only

MAX_REPORT_DAYS = 366
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _report_day(text: str) -> date | None:
    # Only what a date field sends (2026-11-01), not ISO's other spellings.
    return parse_date(text) if _ISO_DAY.match(text) else None


@dataclass(frozen=True)
class Period:
    day_from: date
    day_to: date
    typed_from: str  # shown back in the date fields: a date, or the one in use
    typed_to: str
    problem: str | None


def report_period() -> Period:
    """The period asked for (the last 30 days; a start alone runs to today, an end alone has
    the 30 days up to it) and, if it cannot be used, why."""
    args = request.args
    typed_from = str(visible_only(args.get("from", "")))[:20]
    typed_to = str(visible_only(args.get("to", "")))[:20]
    today = clinic_today()
    day_from, day_to = today - timedelta(days=29), today
    problem = None
    parsed_from = _report_day(typed_from)
    parsed_to = _report_day(typed_to)
    if (typed_from and parsed_from is None) or (typed_to and parsed_to is None):
        unreadable = typed_from if typed_from and parsed_from is None else typed_to
        problem = (
            f"“{unreadable}” is not a date we can read. Enter dates as year-month-day, "
            "for example 2026-11-01."
        )
    elif parsed_from or parsed_to:
        end = parsed_to or max(today, parsed_from or today)
        start = parsed_from or end - timedelta(days=29)
        if start > end:
            problem = "The start date is after the end date."
        elif (end - start).days >= MAX_REPORT_DAYS:
            problem = f"Choose a period of at most {MAX_REPORT_DAYS} days."
        else:
            day_from, day_to = start, end
    # A date field can only show a date: what could not be read is quoted in the message.
    shown_from = typed_from if parsed_from else day_from.isoformat()
    shown_to = typed_to if parsed_to else day_to.isoformat()
    return Period(day_from, day_to, shown_from, shown_to, problem)


@bp.get("/analytics", endpoint="analytics")
def analytics_page():
    period = report_period()
    report = reports.current_report(period.day_from, period.day_to)
    return render_template(
        "staff/analytics.html",
        report=report,
        chart=analytics_chart.leads_chart(report),
        typed_from=period.typed_from,
        typed_to=period.typed_to,
        problem=period.problem,
        percent=report_format.percent,
        duration=report_format.duration,
        FormKind=FormKind,
        min_views=reports.MIN_VIEWS_FOR_BEST,
    ), (400 if period.problem else 200)


@bp.get("/analytics.csv", endpoint="analytics_csv")
def analytics_csv():
    period = report_period()
    if period.problem:
        abort(400, period.problem)
    day_from, day_to = period.day_from, period.day_to
    report = reports.current_report(day_from, day_to)
    reports.record_export(day_from, day_to, by=acting_user())
    name = f"analytics-{day_from.isoformat()}-to-{day_to.isoformat()}.csv"
    return csv_download(csv_document(report_format.report_rows(report)), name)
