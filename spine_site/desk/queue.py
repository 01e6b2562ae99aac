"""The intake queue: who to call next. Read-only; attempts.py changes things.

Spam is left out of every view. Waiting time is counted in business hours: "overdue after
60 business minutes" becomes `created_at < T` for the instant T that is 60 business minutes
ago, so each view is one indexed query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from spine_site.clock import clinic_zone, day_start, utcnow
from spine_site.desk.business_hours import BusinessHours
from spine_site.extensions import db
from spine_site.leads.lead_list import page_bounds
from spine_site.models import FormKind, Lead, LeadStatus, User

VIEWS = {
    "first_contact": "Needs first contact",
    "due_today": "Follow-ups due today",
    "overdue": "Overdue",
    "mine": "Mine",
}
OPEN = (LeadStatus.NEW, LeadStatus.CONTACTED)


def _never_tried() -> list[ColumnElement[bool]]:
    # Appointment requests: a guide request asked for a PDF, not a call.
    return [
        Lead.is_spam.is_(False),
        Lead.form == FormKind.APPOINTMENT,
        Lead.status == LeadStatus.NEW,
        Lead.first_attempt_at.is_(None),
    ]


def _follow_ups_before(moment: datetime) -> list[ColumnElement[bool]]:
    return [
        Lead.is_spam.is_(False),
        Lead.status.in_(OPEN),
        Lead.next_follow_up_at.is_not(None),
        Lead.next_follow_up_at < moment,
    ]


@dataclass(frozen=True)
class Moments:
    """The instants the views compare against, worked out once per request."""

    now: datetime
    overdue_before: datetime  # a request never tried, made at or before this, is overdue
    end_of_today: datetime


def moments(hours: BusinessHours, now: datetime | None = None) -> Moments:
    now = now or utcnow()
    target = current_app.config["FIRST_CONTACT_TARGET_MINUTES"]
    today = now.astimezone(clinic_zone()).date()
    return Moments(now, hours.subtract(now, target), day_start(today + timedelta(days=1)))


def view_clauses(view: str, m: Moments, user: User | None) -> list[list[ColumnElement[bool]]]:
    """Each view as one or more sets of WHERE clauses, each served by an index: "overdue"
    is two (never tried and past the target; follow-ups past due), which one OR would make
    the database sort; the parts are read in order and merged here."""
    if view == "first_contact":
        return [_never_tried()]
    if view == "due_today":
        return [_follow_ups_before(m.end_of_today)]
    if view == "overdue":
        # Two parts that cannot overlap: a request never tried is overdue by the first-contact
        # target (even with a next try set by hand); one already tried, by its next try.
        waited = [*_never_tried(), Lead.created_at <= m.overdue_before]
        late = [*_follow_ups_before(m.now), Lead.first_attempt_at.is_not(None)]
        return [waited, late]
    if view == "mine":
        owner = user.id if user is not None else None
        return [[Lead.owner_id == owner, Lead.is_spam.is_(False), Lead.status.in_(OPEN)]]
    raise ValueError(f"unknown queue view {view!r}")


def _order(view: str, part: int = 0) -> tuple[ColumnElement[object], ...]:
    # Follow-ups by when they fall due (overdue's second part too): the index's own order.
    if view == "due_today" or (view == "overdue" and part == 1):
        return (Lead.next_follow_up_at, Lead.id)
    return (Lead.created_at, Lead.id)


def overdue_since(lead: Lead, hours: BusinessHours, target: int) -> datetime:
    """When a request became overdue: its first-contact target passed, or its next try."""
    if lead.first_attempt_at is None and lead.status is LeadStatus.NEW:
        return hours.add(lead.created_at, target)
    return lead.next_follow_up_at or lead.created_at


def counts(m: Moments, user: User | None) -> dict[str, int]:
    """How many requests each view holds: three index-only scans, since "overdue" is a part
    of the never-tried requests plus a part of today's follow-ups, counted alongside them."""
    never, waited = db.session.execute(
        select(
            func.count(Lead.id), func.count(Lead.id).filter(Lead.created_at <= m.overdue_before)
        ).where(*_never_tried())
    ).one()
    today, late = db.session.execute(
        select(
            func.count(Lead.id),
            func.count(Lead.id).filter(
                Lead.next_follow_up_at < m.now, Lead.first_attempt_at.is_not(None)
            ),
        ).where(*_follow_ups_before(m.end_of_today))
    ).one()
    (mine,) = view_clauses("mine", m, user)
    return {
        "first_contact": never,
        "due_today": today,
        "overdue": waited + late,
        "mine": db.session.scalar(select(func.count(Lead.id)).where(*mine)) or 0,
    }


def view_rows(
    view: str, m: Moments, user: User, limit: int, offset: int, hours: BusinessHours
) -> list[Lead]:
    """One page of a view, in its order ("overdue": longest overdue first)."""
    parts = view_clauses(view, m, user)
    options = (selectinload(Lead.owner), selectinload(Lead.attempts))
    if len(parts) == 1:
        query = select(Lead).where(*parts[0]).order_by(*_order(view))
        return list(db.session.scalars(query.options(*options).limit(limit).offset(offset)))
    # Each part is read in the order its rows fell overdue, so the first offset + limit of
    # each, merged, hold the page.
    found: list[Lead] = []
    for n, clauses in enumerate(parts):
        query = select(Lead).where(*clauses).order_by(*_order(view, n)).limit(offset + limit)
        found.extend(db.session.scalars(query.options(*options)))
    target = current_app.config["FIRST_CONTACT_TARGET_MINUTES"]
    found.sort(key=lambda lead: (overdue_since(lead, hours, target), lead.id))
    return found[offset : offset + limit]


@dataclass(frozen=True)
class QueuePage:
    view: str
    leads: list[Lead]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    moments: Moments
    earlier: dict[int, int]  # person id -> their other requests


def queue_page(view: str, user: User, page: int, per_page: int) -> QueuePage:
    hours: BusinessHours = current_app.extensions["business_hours"]
    m = moments(hours)
    found = counts(m, user)
    page, pages = page_bounds(found[view], page, per_page)
    rows = view_rows(view, m, user, per_page, (page - 1) * per_page, hours)
    return QueuePage(view, rows, found[view], page, pages, found, m, other_requests(rows))


def other_requests(leads: list[Lead]) -> dict[int, int]:
    """Repeat requests shown together: how many other requests each person has made."""
    people = {lead.person_id for lead in leads}
    if not people:
        return {}
    per_person = db.session.execute(
        select(Lead.person_id, func.count())
        .where(Lead.person_id.in_(people))
        .group_by(Lead.person_id)
    ).all()
    return {person: n - 1 for person, n in per_person if n > 1}


def waiting_minutes(lead: Lead, hours: BusinessHours, now: datetime) -> int:
    """Business minutes from the request until its first try (or until now)."""
    return hours.minutes_between(lead.created_at, lead.first_attempt_at or now)
