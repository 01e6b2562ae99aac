"""First contact, by week: how fast the intake desk tries and reaches appointment requests
(spam left out), per clinic week (Monday to Sunday, partial at the period's ends), over the
whole period, and over the whole period per language of the request.

Tried within the target: a request not tried yet counts as missed once its target has
passed and is left out until then, so a week still under way is neither flattered nor
penalised. Times are business minutes: a request made on Friday evening and called at 08:30
on Monday waited 30 minutes, not 60 hours.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, func, select

from spine_site.clock import clinic_zone, day_start, utcnow
from spine_site.desk.attempts import business_hours
from spine_site.extensions import db
from spine_site.models import ContactAttempt, FormKind, Lead, LeadStatus, LeadStatusChange
from spine_site.web.i18n import LANGUAGES


@dataclass(frozen=True)
class IntakeWeek:
    """The figures of one clinic week (or of the whole period) of appointment requests."""

    first_day: date
    last_day: date
    requests: int
    within_target: int
    measured: int  # first tried, or past their target untried: the share's whole
    median_to_attempt: float | None  # business minutes
    attempted: int
    median_to_reach: float | None  # business minutes
    reached: int
    scheduled: int
    scheduled_attempts: int

    @property
    def share_within_target(self) -> float | None:
        return self.within_target / self.measured if self.measured else None

    @property
    def attempts_per_scheduled(self) -> float | None:
        return self.scheduled_attempts / self.scheduled if self.scheduled else None


@dataclass(frozen=True)
class IntakeReport:
    target_minutes: int
    weeks: list[IntakeWeek]
    total: IntakeWeek
    # The whole period's figures for each language's requests (every language, in
    # LANGUAGES' order, then any other code a request holds).
    by_language: dict[str, IntakeWeek]


@dataclass(frozen=True)
class _Request:
    """One request's part in the figures."""

    monday: date
    language: str
    within: bool | None  # None: not tried and still inside its target
    to_attempt: int | None
    to_reach: int | None
    scheduled_attempts: int | None  # None: never scheduled


def _requests(start: datetime, end: datetime) -> Sequence[Row[Any]]:
    return db.session.execute(
        select(
            Lead.id,
            Lead.created_at,
            Lead.status,
            Lead.first_attempt_at,
            Lead.first_reached_at,
            Lead.language,
        )
        .where(
            Lead.created_at >= start,
            Lead.created_at < end,
            Lead.form == FormKind.APPOINTMENT,
            Lead.is_spam.is_(False),
        )
        .order_by(Lead.id)
    ).all()


def chunks(items: list[int], size: int = 500) -> Iterator[list[int]]:
    """Ids in pieces small enough for an IN list."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _scheduled_attempts(rows: Sequence[Row[Any]]) -> dict[int, int]:
    """Attempts per request, for the requests that ever reached "scheduled"."""
    scheduled = {row.id for row in rows if row.status is LeadStatus.SCHEDULED}
    ids = [row.id for row in rows]
    for chunk in chunks(ids):
        scheduled.update(
            db.session.scalars(
                select(LeadStatusChange.lead_id).where(
                    LeadStatusChange.lead_id.in_(chunk),
                    LeadStatusChange.to_status == LeadStatus.SCHEDULED,
                )
            )
        )
    attempts = dict.fromkeys(scheduled, 0)
    for chunk in chunks(sorted(scheduled)):
        counted = db.session.execute(
            select(ContactAttempt.lead_id, func.count())
            .where(ContactAttempt.lead_id.in_(chunk))
            .group_by(ContactAttempt.lead_id)
        )
        attempts.update((lead_id, count) for lead_id, count in counted)
    return attempts


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _figures(first_day: date, last_day: date, group: Iterable[_Request]) -> IntakeWeek:
    requests = list(group)
    to_attempt = [r.to_attempt for r in requests if r.to_attempt is not None]
    to_reach = [r.to_reach for r in requests if r.to_reach is not None]
    scheduled = [r.scheduled_attempts for r in requests if r.scheduled_attempts is not None]
    return IntakeWeek(
        first_day=first_day,
        last_day=last_day,
        requests=len(requests),
        within_target=sum(1 for r in requests if r.within),
        measured=sum(1 for r in requests if r.within is not None),
        median_to_attempt=_median(to_attempt),
        attempted=len(to_attempt),
        median_to_reach=_median(to_reach),
        reached=len(to_reach),
        scheduled=len(scheduled),
        scheduled_attempts=sum(scheduled),
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def build(day_from: date, day_to: date, now: datetime | None = None) -> IntakeReport:
    """The first-contact figures for the clinic days day_from..day_to, by week, as of now."""
    target = int(current_app.config["FIRST_CONTACT_TARGET_MINUTES"])
    hours = business_hours()
    zone = clinic_zone()
    # An untried request is past its target when made before this (the queue's "overdue").
    past_target_before = hours.subtract(now or utcnow(), target)
    rows = _requests(day_start(day_from), day_start(day_to + timedelta(days=1)))
    attempts = _scheduled_attempts(rows)
    by_week: dict[date, list[_Request]] = defaultdict(list)
    everything: list[_Request] = []
    for row in rows:
        to_attempt = to_reach = None
        if row.first_attempt_at is not None:
            to_attempt = hours.minutes_between(row.created_at, row.first_attempt_at)
            within: bool | None = to_attempt <= target
        else:
            within = False if row.created_at < past_target_before else None
        if row.first_reached_at is not None:
            to_reach = hours.minutes_between(row.created_at, row.first_reached_at)
        monday = _monday(row.created_at.astimezone(zone).date())
        request = _Request(monday, row.language, within, to_attempt, to_reach, attempts.get(row.id))
        by_week[monday].append(request)
        everything.append(request)
    weeks = []
    monday = _monday(day_from)
    while monday <= day_to:
        first, last = max(monday, day_from), min(monday + timedelta(days=6), day_to)
        weeks.append(_figures(first, last, by_week[monday]))
        monday += timedelta(days=7)
    languages = [*LANGUAGES, *sorted({r.language for r in everything} - set(LANGUAGES))]
    by_language = {
        code: _figures(day_from, day_to, (r for r in everything if r.language == code))
        for code in languages
    }
    return IntakeReport(target, weeks, _figures(day_from, day_to, everything), by_language)
