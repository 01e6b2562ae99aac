"""The staff lead list: filters, search, paging and counts per status. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select

from . import lead_search
from .clock import day_start
from .extensions import db
from .models import FormKind, Lead, LeadStatus


@dataclass(frozen=True)
class LeadFilter:
    """The lead list's filters; the CSV export takes the same ones."""

    form: FormKind | None = None
    status: LeadStatus | None = None
    date_from: date | None = None  # inclusive, in the clinic's time zone
    date_to: date | None = None  # inclusive, in the clinic's time zone
    spam: str = "exclude"  # exclude | only | include
    q: str = ""

    def as_dict(self) -> dict[str, str]:
        """The non-default filters, as they appear in a URL and in the audit log."""
        out = {
            "form": self.form.value if self.form else "",
            "status": self.status.value if self.status else "",
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "spam": "" if self.spam == "exclude" else self.spam,
            "q": self.q,
        }
        return {k: v for k, v in out.items() if v}


def filter_clauses(
    f: LeadFilter, *, with_status: bool = True, matches: int | None = None
) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter (status left out when counting per status). `matches`, how
    many leads the filter finds when that is known, lets the search choose its plan."""
    clauses: list[ColumnElement[bool]] = []
    if f.form is not None:
        clauses.append(Lead.form == f.form)
    if with_status and f.status is not None:
        clauses.append(Lead.status == f.status)
    if f.date_from is not None:
        clauses.append(Lead.created_at >= day_start(f.date_from))
    if f.date_to is not None:
        clauses.append(Lead.created_at < day_start(f.date_to + timedelta(days=1)))
    terms = search_terms(f.q)
    if f.spam == "exclude":
        clauses.append(lead_search.unselective(Lead.is_spam.is_(False), terms))
    elif f.spam == "only":
        clauses.append(Lead.is_spam.is_(True))
    # Every word must appear in a name, the email or the phone digits.
    clauses.extend(lead_search.search_clauses(terms, matches=matches))
    return clauses


def search_terms(q: str) -> list[str]:
    """A phone number however it is typed (+1 312 867 5309, (312) 867-5309) is one term of
    digits; anything else is up to five words."""
    query = q.lower()
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 3 and all(ch.isdigit() or ch in " +-().-/" for ch in query):
        return [digits]
    return query.split()[:5]


def page_bounds(total: int, page: int, per_page: int) -> tuple[int, int]:
    """The page to show (clamped to what exists) and how many pages there are."""
    pages = max(1, -(-total // per_page))
    return min(max(page, 1), pages), pages


@dataclass(frozen=True)
class LeadPage:
    leads: list[Lead]
    total: int
    page: int
    pages: int
    counts: dict[LeadStatus, int]


def list_leads(f: LeadFilter, page: int, per_page: int) -> LeadPage:
    """One page of leads, newest first, with the total and the count per status."""
    by_status = dict(
        db.session.execute(
            select(Lead.status, func.count())
            .where(*filter_clauses(f, with_status=False))
            .group_by(Lead.status)
        ).all()
    )
    counts = {status: by_status.get(status, 0) for status in LeadStatus}
    # The counts per status already add up to the total: no second count query.
    total = counts[f.status] if f.status is not None else sum(counts.values())
    page, pages = page_bounds(total, page, per_page)
    rows = db.session.scalars(
        select(Lead)
        .where(*filter_clauses(f, matches=total))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return LeadPage(list(rows), total, page, pages, counts)
