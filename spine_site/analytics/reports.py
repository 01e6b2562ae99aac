"""The funnel report behind /staff/analytics: views from page_view_day, everything else read
from the leads, each figure from a small query that selects only the columns it needs.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Row, func, select

from spine_site.accounts import audit
from spine_site.analytics import intake_report, pageviews
from spine_site.clock import clinic_zone, day_start
from spine_site.extensions import db
from spine_site.models import (
    EmailKind,
    EmailStatus,
    FormKind,
    GuideDownload,
    Lead,
    LeadStatus,
    LeadStatusChange,
    OutboxEmail,
    PageViewDay,
    User,
)
from spine_site.transaction import atomic
from spine_site.web.i18n import DEFAULT, LANGUAGES, PREFIXES, language_of_path

# A first contact: the first move of an appointment request to one of these.
CONTACTED = frozenset({LeadStatus.CONTACTED, LeadStatus.SCHEDULED})
# "Converts best" is named only among places with at least this many views in the period.
MIN_VIEWS_FOR_BEST = 5
# The form pages, as places a form is shown, beside the articles: each in every language,
# at its language's prefix (/es/schedule).
FORM_PAGES = (("/schedule", "Appointment page"), ("/guide", "Guide page"))


def form_page_paths(path: str) -> list[str]:
    """A form page's path in every language: /schedule, /es/schedule."""
    return [prefix + path for prefix in PREFIXES.values()]


@dataclass(frozen=True)
class _Conversion:
    """Page views and the requests sent from those pages; the rate is requests per view."""

    views: int
    appointments: int
    guides: int

    @property
    def leads(self) -> int:
        return self.appointments + self.guides

    @property
    def rate(self) -> float | None:
        return ratio(self.leads, self.views)


@dataclass(frozen=True)
class PlaceRow(_Conversion):
    """One place a form is shown: an article (embedded) or a form's own page."""

    page: str
    label: str
    placement: str


@dataclass(frozen=True)
class LanguageRow(_Conversion):
    """One language's pages."""

    language: str  # a code of web/i18n.LANGUAGES

    @property
    def name(self) -> str:
        return LANGUAGES.get(self.language, self.language)


@dataclass(frozen=True)
class Step:
    label: str
    count: int
    rate: float | None  # of the step before


@dataclass
class Report:
    day_from: date
    day_to: date
    days: list[date]
    views_total: int
    views_per_day: dict[date, int]
    leads_per_day: dict[date, dict[FormKind, int]]
    by_form: dict[FormKind, int]
    by_source: list[tuple[str, int]]
    places: list[PlaceRow]
    appointment_funnel: list[Step]
    guide_funnel: list[Step]
    guide_download_rate: float | None
    median_first_contact: timedelta | None
    contacted_count: int
    spam_count: int
    page_views: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[LanguageRow] = field(default_factory=list)
    intake: intake_report.IntakeReport | None = None

    @property
    def leads_total(self) -> int:
        return sum(self.by_form.values())

    @property
    def best_place(self) -> PlaceRow | None:
        """The place with the highest conversion among those seen often enough to tell."""
        rated = [p for p in self.places if p.views >= MIN_VIEWS_FOR_BEST and p.leads]
        return max(rated, key=lambda p: (p.rate, p.leads)) if rated else None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def source_of(lead: Any) -> str:
    """utm_source if the visit had one, else the referring site, else "(direct)"."""
    if lead.utm_source:
        return lead.utm_source.strip().lower()
    if lead.referrer:
        try:
            host = urlsplit(lead.referrer).hostname or ""
        except ValueError:
            host = ""
        if host:
            return host.removeprefix("www.")
    return "(direct)"


def _views(day_from: date, day_to: date) -> tuple[dict[date, int], Counter[str]]:
    """Views per day (every day of the period present) and per path."""
    days = (day_to - day_from).days + 1
    per_day = dict.fromkeys((day_from + timedelta(days=i) for i in range(days)), 0)
    per_path: Counter[str] = Counter()
    rows = db.session.execute(
        select(PageViewDay.day, PageViewDay.path, PageViewDay.views).where(
            PageViewDay.day >= day_from, PageViewDay.day <= day_to
        )
    )
    for day, path, views in rows:
        per_day[day] += views
        per_path[path] += views
    return per_day, per_path


def _leads(start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """The period's leads (spam left out), with only the columns the report reads."""
    return db.session.execute(
        select(
            Lead.id,
            Lead.form,
            Lead.status,
            Lead.created_at,
            Lead.utm_source,
            Lead.referrer,
            Lead.source_page,
            Lead.placement,
            Lead.language,
        )
        .where(Lead.created_at >= start, Lead.created_at < end, Lead.is_spam.is_(False))
        .order_by(Lead.id)
    ).all()


def _spam_count(start: datetime, end: datetime) -> int:
    in_range = (Lead.created_at >= start, Lead.created_at < end)
    return db.session.scalar(select(func.count()).where(*in_range, Lead.is_spam)) or 0


def _status_history(ids: list[int]) -> tuple[dict[int, datetime], dict[int, set[LeadStatus]]]:
    """Each lead's first move to contacted or scheduled (its first contact), and every status
    it ever reached. (A lead closed or turned away without a contact has no first contact.)"""
    first_move: dict[int, datetime] = {}
    reached: dict[int, set[LeadStatus]] = defaultdict(set)
    for chunk in intake_report.chunks(ids):
        changes = db.session.execute(
            select(
                LeadStatusChange.lead_id, LeadStatusChange.to_status, LeadStatusChange.created_at
            )
            .where(LeadStatusChange.lead_id.in_(chunk))
            .order_by(LeadStatusChange.created_at, LeadStatusChange.id)
        )
        for lead_id, to_status, at in changes:
            reached[lead_id].add(to_status)
            if to_status in CONTACTED and lead_id not in first_move:
                first_move[lead_id] = at
    return first_move, reached


def _guide_outcomes(guide_ids: list[int]) -> tuple[set[int], set[int]]:
    """Which guide requests had their email sent, and which downloaded the guide."""
    sent: set[int] = set()
    downloaded: set[int] = set()
    for chunk in intake_report.chunks(guide_ids):
        sent.update(
            db.session.scalars(
                select(OutboxEmail.lead_id).where(
                    OutboxEmail.lead_id.in_(chunk),
                    OutboxEmail.kind == EmailKind.GUIDE,
                    OutboxEmail.status == EmailStatus.SENT,
                )
            )
        )
        downloaded.update(
            db.session.scalars(
                select(GuideDownload.lead_id).where(GuideDownload.lead_id.in_(chunk))
            )
        )
    return sent, downloaded


def _places(
    leads: Sequence[Row[Any]], views: Counter[str], articles: list[tuple[str, str]]
) -> list[PlaceRow]:
    by_place: dict[tuple[str, str], Counter[FormKind]] = defaultdict(Counter)
    for lead in leads:
        by_place[(lead.source_page or "", lead.placement or "page")][lead.form] += 1
    spots = [(path, title, "embedded") for path, title in articles]
    for code, prefix in PREFIXES.items():
        suffix = "" if code == DEFAULT else f" ({LANGUAGES[code]})"
        spots += [(prefix + path, label + suffix, "page") for path, label in FORM_PAGES]
    return [
        PlaceRow(views[path], *_by_form(by_place[(path, placement)]), path, label, placement)
        for path, label, placement in spots
    ]


def _by_form(requests: Counter[FormKind]) -> tuple[int, int]:
    return requests[FormKind.APPOINTMENT], requests[FormKind.GUIDE]


def _languages(leads: Sequence[Row[Any]], views: Counter[str]) -> list[LanguageRow]:
    """Every language (those with neither views nor requests too), then any other code a
    lead holds."""
    views_in: Counter[str] = Counter()
    for path, count in views.items():
        views_in[language_of_path(path)] += count
    requests: dict[str, Counter[FormKind]] = defaultdict(Counter)
    for lead in leads:
        requests[lead.language][lead.form] += 1
    codes = [*LANGUAGES, *sorted(set(requests) - set(LANGUAGES))]
    return [LanguageRow(views_in[code], *_by_form(requests[code]), code) for code in codes]


def _funnel(pairs: list[tuple[str, int]]) -> list[Step]:
    steps: list[Step] = []
    before: int | None = None
    for label, count in pairs:
        steps.append(Step(label, count, None if before is None else ratio(count, before)))
        before = count
    return steps


def _appointment_figures(
    leads: Sequence[Row[Any]], form_views: int
) -> tuple[list[Step], timedelta | None, int]:
    """The appointment funnel, the median time to first contact, and how many were contacted
    (the leads the median is over)."""
    appointments = [lead for lead in leads if lead.form is FormKind.APPOINTMENT]
    first_move, reached = _status_history([lead.id for lead in appointments])
    statuses = {lead.id: reached[lead.id] | {lead.status} for lead in appointments}
    contacted = sum(1 for s in statuses.values() if s & CONTACTED)
    scheduled = sum(1 for s in statuses.values() if LeadStatus.SCHEDULED in s)
    waits = [
        (first_move[lead.id] - lead.created_at).total_seconds()
        for lead in appointments
        if lead.id in first_move
    ]
    median = timedelta(seconds=statistics.median(waits)) if waits else None
    steps = _funnel(
        [
            ("Views of pages with the appointment form", form_views),
            ("Asked for an appointment", len(appointments)),
            ("Contacted", contacted),
            ("Scheduled", scheduled),
        ]
    )
    return steps, median, len(waits)


def _guide_figures(leads: Sequence[Row[Any]], form_views: int) -> tuple[list[Step], float | None]:
    """The guide funnel, and the share of sent guide emails whose link was used."""
    guide_ids = {lead.id for lead in leads if lead.form is FormKind.GUIDE}
    sent, downloaded = _guide_outcomes(sorted(guide_ids))
    steps = _funnel(
        [
            ("Views of pages with the guide form", form_views),
            ("Asked for the guide", len(guide_ids)),
            ("Guide email sent", len(sent & guide_ids)),
            ("Downloaded the guide", len(downloaded & sent & guide_ids)),
        ]
    )
    return steps, ratio(len(downloaded & sent), len(sent))


def build_report(day_from: date, day_to: date, articles: list[tuple[str, str]]) -> Report:
    """Every figure of /staff/analytics for the clinic days day_from..day_to (inclusive);
    `articles` is [(path, title)] of the published articles."""
    zone = clinic_zone()
    start, end = day_start(day_from), day_start(day_to + timedelta(days=1))
    views_per_day, views_by_path = _views(day_from, day_to)
    leads = _leads(start, end)
    leads_per_day = {d: dict.fromkeys(FormKind, 0) for d in views_per_day}
    by_form = dict.fromkeys(FormKind, 0)
    by_source: Counter[str] = Counter(source_of(lead) for lead in leads)
    for lead in leads:
        leads_per_day[lead.created_at.astimezone(zone).date()][lead.form] += 1
        by_form[lead.form] += 1
    article_views = sum(views_by_path[path] for path, _ in articles)
    schedule_views = sum(views_by_path[path] for path in form_page_paths("/schedule"))
    guide_views = sum(views_by_path[path] for path in form_page_paths("/guide"))
    appointment_steps, median, contacted = _appointment_figures(
        leads, schedule_views + article_views
    )
    guide_steps, download_rate = _guide_figures(leads, guide_views + article_views)
    return Report(
        day_from=day_from,
        day_to=day_to,
        days=list(views_per_day),
        views_total=sum(views_per_day.values()),
        views_per_day=views_per_day,
        leads_per_day=leads_per_day,
        by_form=by_form,
        by_source=sorted(by_source.items(), key=lambda item: (-item[1], item[0])),
        places=_places(leads, views_by_path, articles),
        appointment_funnel=appointment_steps,
        guide_funnel=guide_steps,
        guide_download_rate=download_rate,
        median_first_contact=median,
        contacted_count=contacted,
        spam_count=_spam_count(start, end),
        page_views=sorted(views_by_path.items(), key=lambda item: (-item[1], item[0])),
        by_language=_languages(leads, views_by_path),
        intake=intake_report.build(day_from, day_to),
    )


def current_report(day_from: date, day_to: date) -> Report:
    """The report over the published articles, with this process's page views not yet added
    up written first, so the page shows the latest counts."""
    pageviews.counter().flush()
    library = current_app.extensions["articles"]
    return build_report(day_from, day_to, [(a.path, a.title) for a in library.all])


@atomic()
def record_export(day_from: date, day_to: date, *, by: User) -> None:
    audit.record(
        "analytics_export",
        user=by,
        detail={"from": day_from.isoformat(), "to": day_to.isoformat()},
    )
