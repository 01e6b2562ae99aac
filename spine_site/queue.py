"""The intake queue: who to call next. Read-only; intake_desk.py changes things.

Views (each with its count):
- first_contact: new requests nobody has tried yet, oldest first;
- due_today: follow-ups due before the end of today (the clinic's day), soonest first;
- overdue: requests never tried whose waiting time, in business minutes, is past
  FIRST_CONTACT_TARGET_MINUTES, and follow-ups whose time has passed; oldest first;
- mine: open requests (new or contacted) the signed-in person owns, oldest first;
- all: the full list with its filters (lead_list.py).
Spam is left out of every queue view. Waiting time is counted in business hours
(business_hours.py); "overdue after 60 business minutes" becomes `created_at < T` for the
instant T that is 60 business minutes ago, so each view is one indexed query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import selectinload

from .business_hours import BusinessHours
from .clock import clinic_zone, day_start, utcnow
from .extensions import db
from .lead_list import page_bounds
from .models import Lead, LeadStatus, User

VIEWS = {
    "first_contact": "Needs first contact",
    "due_today": "Follow-ups due today",
    "overdue": "Overdue",
    "mine": "Mine",
}
OPEN = (LeadStatus.NEW, LeadStatus.CONTACTED)


def _never_tried() -> list[ColumnElement[bool]]:
    return [
        Lead.is_spam.is_(False),
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


def view_query(view: str, m: Moments, user: User):  # -> Select[tuple[Lead]]
    """The WHERE and ORDER BY of one view."""
    if view == "first_contact":
        return select(Lead).where(*_never_tried()).order_by(Lead.created_at, Lead.id)
    if view == "due_today":
        return (
            select(Lead)
            .where(*_follow_ups_before(m.end_of_today))
            .order_by(Lead.next_follow_up_at, Lead.id)
        )
    if view == "overdue":
        return select(Lead).where(_overdue(m)).order_by(Lead.created_at, Lead.id)
    if view == "mine":
        return (
            select(Lead)
            .where(Lead.owner_id == user.id, Lead.is_spam.is_(False), Lead.status.in_(OPEN))
            .order_by(Lead.created_at, Lead.id)
        )
    raise ValueError(f"unknown queue view {view!r}")


def _overdue(m: Moments) -> ColumnElement[bool]:
    return or_(
        # At or before the cutoff: it has waited the target or longer.
        and_(*_never_tried(), Lead.created_at <= m.overdue_before),
        and_(*_follow_ups_before(m.now)),
    )


def counts(m: Moments, user: User) -> dict[str, int]:
    """How many requests each view holds (each an index-only count)."""
    found: dict[str, int] = {}
    for view in VIEWS:
        query = view_query(view, m, user).order_by(None)
        found[view] = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return found


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
    rows = list(
        db.session.scalars(
            view_query(view, m, user)
            .options(selectinload(Lead.owner), selectinload(Lead.attempts))
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return QueuePage(view, rows, found[view], page, pages, found, m, _other_requests(rows))


def _other_requests(leads: list[Lead]) -> dict[int, int]:
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
