"""First-party funnel analytics: page views counted without cookies, the rest from the leads.

Counting: each web process keeps page views in memory, keyed by (day, path), and adds them to
`page_view_day` every ANALYTICS_FLUSH_SECONDS (and when the process exits), so a page view
costs a dictionary update, not a database write. No cookie, IP address or visitor id is
involved; a process killed with -9 loses at most its last few seconds of counts.

Everything else (submissions, contact, scheduling, guide emails and downloads) is already in
the database with the leads, so it is read from there, never counted twice.
"""

from __future__ import annotations

import atexit
import functools
import logging
import re
import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Request, Response, current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import (
    EmailKind,
    EmailStatus,
    FormKind,
    GuideDownload,
    Lead,
    LeadStatus,
    LeadStatusChange,
    OutboxEmail,
    PageViewDay,
)

log = logging.getLogger(__name__)

# A first contact: the first move of an appointment request to one of these.
CONTACTED = frozenset({LeadStatus.CONTACTED, LeadStatus.SCHEDULED})
# "Converts best" is named only among places with at least this many views in the period.
MIN_VIEWS_FOR_BEST = 5

# The pages a reader lands on and reads: their views are counted (GET answered 200 or 304),
# and the visit cookie is set on them (public/views.py). Articles are counted by path.
READER_PAGES = {
    "public.index",
    "public.article",
    "public.schedule",
    "public.guide",
    "public.privacy",
}
# Crawlers, link previews, monitors and scripts that say what they are; and no User-Agent at
# all, which no browser sends.
_BOT = re.compile(
    r"bot|crawl|spider|slurp|preview|monitor|scan|headless|lighthouse|curl|wget|python|"
    r"httpclient|java/|go-http|okhttp|werkzeug|facebookexternalhit|whatsapp|embedly|"
    r"feedfetcher|validator",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=2048)
def _is_bot(agent: str) -> bool:
    # Cached: a site sees the same few hundred User-Agent strings over and over.
    return not agent or _BOT.search(agent) is not None


def is_counted_view(req: Request, response: Response) -> bool:
    if req.method != "GET" or response.status_code not in (200, 304):
        return False
    if req.endpoint not in READER_PAGES:
        return False
    # (The WSGI environ directly: a dict lookup, where req.headers scans the header list;
    # this runs on every page view.)
    environ = req.environ
    if _is_bot(environ.get("HTTP_USER_AGENT", "")):
        return False
    # A page the browser fetched ahead in case it is needed has not been seen.
    purpose = (
        environ.get("HTTP_SEC_PURPOSE") or environ.get("HTTP_PURPOSE") or environ.get("HTTP_X_MOZ")
    ) or ""
    return "prefetch" not in purpose and "prerender" not in purpose


class ViewCounter:
    """Page views per (clinic day, path), held in memory and added to the database in batches."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.zone = ZoneInfo(app.config["CLINIC_TIMEZONE"])
        self._lock = threading.Lock()
        self._counts: Counter[tuple[date, str]] = Counter()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._exit_hook = False

    def add(self, path: str) -> None:
        day = datetime.now(self.zone).date()
        with self._lock:
            self._counts[(day, path[:200])] += 1

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self) -> int:
        """Add the counts held here to page_view_day; on a database error keep them for later.

        Inside a request (the analytics page) this uses the request's own session: a second
        connection would wait behind the request's SQLite transaction.
        """
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        if has_app_context() and current_app._get_current_object() is self.app:
            return self._write(counts)
        with self.app.app_context():
            try:
                return self._write(counts)
            finally:
                db.session.remove()

    def _write(self, counts: Counter[tuple[date, str]]) -> int:
        try:
            add_views(counts)
            db.session.commit()
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("page views kept for later: %s", type(error).__name__)
            with self._lock:
                self._counts.update(counts)
            return 0
        return sum(counts.values())

    def start(self) -> None:
        """The flusher thread of this process, and its exit hook (from the first counted view).

        With ANALYTICS_FLUSH_SECONDS 0 there is no thread: counts are added when the
        analytics page is opened and when the process exits (tests drive it that way).
        """
        running = self._thread is not None and self._thread.is_alive()
        if self._exit_hook and (running or self.app.config["ANALYTICS_FLUSH_SECONDS"] <= 0):
            return
        with self._lock:
            if not self._exit_hook:
                atexit.register(self.stop)
                self._exit_hook = True
            if self.app.config["ANALYTICS_FLUSH_SECONDS"] <= 0:
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="view-counter", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (letting a write in progress finish), then add what is left."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        interval = self.app.config["ANALYTICS_FLUSH_SECONDS"]
        while not self._stop.wait(interval):
            self.flush()


def add_views(counts: Counter[tuple[date, str]]) -> None:
    """views += n for each (day, path): one upsert a row, safe beside other processes."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for (day, path), views in sorted(counts.items()):
        statement = insert(PageViewDay).values(day=day, path=path, views=views)
        statement = statement.on_conflict_do_update(
            index_elements=["day", "path"],
            set_={"views": PageViewDay.views + statement.excluded.views},
        )
        db.session.execute(statement)


# -- The report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceRow:
    """One place a form is shown: an article (embedded) or a form's own page."""

    page: str
    label: str
    placement: str
    views: int
    appointments: int
    guides: int

    @property
    def leads(self) -> int:
        return self.appointments + self.guides

    @property
    def rate(self) -> float | None:
        return self.leads / self.views if self.views else None


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


def source_of(lead: Lead) -> str:
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


def build_report(
    day_from: date, day_to: date, zone: ZoneInfo, articles: list[tuple[str, str]]
) -> Report:
    """Every figure of /staff/analytics for the clinic days day_from..day_to (inclusive).

    `articles` is [(path, title)] of the published articles: the places with an embedded form.
    """
    start = datetime.combine(day_from, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    days = [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]

    views_per_day: dict[date, int] = dict.fromkeys(days, 0)
    views_by_path: Counter[str] = Counter()
    rows = db.session.execute(
        select(PageViewDay.day, PageViewDay.path, PageViewDay.views).where(
            PageViewDay.day >= day_from, PageViewDay.day <= day_to
        )
    )
    for day, path, views in rows:
        views_per_day[day] += views
        views_by_path[path] += views

    in_range = (Lead.created_at >= start, Lead.created_at < end)
    spam_count = db.session.scalar(select(func.count()).where(*in_range, Lead.is_spam)) or 0
    leads = db.session.scalars(
        select(Lead).where(*in_range, Lead.is_spam.is_(False)).order_by(Lead.id)
    ).all()
    ids = [lead.id for lead in leads]

    leads_per_day: dict[date, dict[FormKind, int]] = {d: dict.fromkeys(FormKind, 0) for d in days}
    by_form: dict[FormKind, int] = dict.fromkeys(FormKind, 0)
    by_source: Counter[str] = Counter()
    by_place: dict[tuple[str, str], Counter[FormKind]] = defaultdict(Counter)
    for lead in leads:
        leads_per_day[lead.created_at.astimezone(zone).date()][lead.form] += 1
        by_form[lead.form] += 1
        by_source[source_of(lead)] += 1
        by_place[(lead.source_page or "", lead.placement or "page")][lead.form] += 1

    places = [
        PlaceRow(
            path,
            title,
            "embedded",
            views_by_path[path],
            by_place[(path, "embedded")][FormKind.APPOINTMENT],
            by_place[(path, "embedded")][FormKind.GUIDE],
        )
        for path, title in articles
    ]
    for path, label in (("/schedule", "Appointment page"), ("/guide", "Guide page")):
        places.append(
            PlaceRow(
                path,
                label,
                "page",
                views_by_path[path],
                by_place[(path, "page")][FormKind.APPOINTMENT],
                by_place[(path, "page")][FormKind.GUIDE],
            )
        )

    # Status history: the first move to contacted or scheduled (the first contact), and
    # whether a lead ever reached a status. (A lead closed or turned away without a contact
    # has no first contact.)
    first_move: dict[int, datetime] = {}
    reached: dict[int, set[LeadStatus]] = defaultdict(set)
    for chunk in _chunks(ids, 500):
        changes = db.session.execute(
            select(
                LeadStatusChange.lead_id,
                LeadStatusChange.to_status,
                LeadStatusChange.created_at,
            )
            .where(LeadStatusChange.lead_id.in_(chunk))
            .order_by(LeadStatusChange.created_at, LeadStatusChange.id)
        )
        for lead_id, to_status, at in changes:
            reached[lead_id].add(to_status)
            if to_status in CONTACTED and lead_id not in first_move:
                first_move[lead_id] = at

    appointments = [lead for lead in leads if lead.form is FormKind.APPOINTMENT]
    contacted = [lead for lead in appointments if (reached[lead.id] | {lead.status}) & CONTACTED]
    scheduled = [
        lead for lead in appointments if LeadStatus.SCHEDULED in (reached[lead.id] | {lead.status})
    ]
    waits = [
        (first_move[lead.id] - lead.created_at).total_seconds()
        for lead in appointments
        if lead.id in first_move
    ]
    median_first_contact = timedelta(seconds=statistics.median(waits)) if waits else None

    schedule_views = views_by_path["/schedule"] + sum(views_by_path[p] for p, _ in articles)
    guide_views = views_by_path["/guide"] + sum(views_by_path[p] for p, _ in articles)
    guide_ids = [lead.id for lead in leads if lead.form is FormKind.GUIDE]
    sent: set[int] = set()
    downloaded: set[int] = set()
    for chunk in _chunks(guide_ids, 500):
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

    def funnel(pairs: list[tuple[str, int]]) -> list[Step]:
        steps, before = [], None
        for label, count in pairs:
            steps.append(Step(label, count, None if before is None else ratio(count, before)))
            before = count
        return steps

    return Report(
        day_from=day_from,
        day_to=day_to,
        days=days,
        views_total=sum(views_per_day.values()),
        views_per_day=views_per_day,
        leads_per_day=leads_per_day,
        by_form=by_form,
        by_source=sorted(by_source.items(), key=lambda item: (-item[1], item[0])),
        places=places,
        appointment_funnel=funnel(
            [
                ("Views of pages with the appointment form", schedule_views),
                ("Asked for an appointment", len(appointments)),
                ("Contacted", len(contacted)),
                ("Scheduled", len(scheduled)),
            ]
        ),
        guide_funnel=funnel(
            [
                ("Views of pages with the guide form", guide_views),
                ("Asked for the guide", len(guide_ids)),
                ("Guide email sent", len(sent & set(guide_ids))),
                ("Downloaded the guide", len(downloaded & sent & set(guide_ids))),
            ]
        ),
        guide_download_rate=ratio(len(downloaded & sent), len(sent)),
        median_first_contact=median_first_contact,
        contacted_count=len(waits),
        spam_count=spam_count,
        page_views=sorted(views_by_path.items(), key=lambda item: (-item[1], item[0])),
    )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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
