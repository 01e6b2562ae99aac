"""The staff lead list: filters, search, paging and counts per status. Read-only.

The search is plain SQL: each term a substring of `lead.search_text` (lower-cased names,
email and phone digits), all terms together. On PostgreSQL an ILIKE, which the trigram index
(`gin_trgm_ops`) serves; on SQLite a LIKE, which reads search_text from an ordinary index
in the list's order (models.SQLITE_SEARCH_INDEX).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select

from spine_site.clock import day_start
from spine_site.extensions import db
from spine_site.models import FormKind, Lead, LeadStatus

# A search's counts stop here: past it the list says "more than 1,000" (see list_leads).
COUNT_LIMIT = 1000
# Each status as staff read it, on the staff pages and in the exports.
STATUS_LABELS: dict[str, str] = {
    LeadStatus.NEW: "New",
    LeadStatus.CONTACTED: "Contacted",
    LeadStatus.SCHEDULED: "Scheduled",
    LeadStatus.CLOSED: "Closed",
    LeadStatus.NOT_A_FIT: "Not a fit",
}


@dataclass(frozen=True)
class LeadFilter:
    """The lead list's filters; the CSV export takes the same ones."""

    form: FormKind | None = None
    status: LeadStatus | None = None
    date_from: date | None = None  # inclusive, in the clinic's time zone
    date_to: date | None = None  # inclusive, in the clinic's time zone
    spam: str = "exclude"  # exclude | only | include
    q: str = ""
    language: str | None = None  # a code of web/i18n.LANGUAGES: the pages the lead came from

    def as_dict(self) -> dict[str, str]:
        """The non-default filters, as they appear in a URL and in the audit log."""
        out = {
            "form": self.form.value if self.form else "",
            "status": self.status.value if self.status else "",
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "spam": "" if self.spam == "exclude" else self.spam,
            "q": self.q,
            "language": self.language or "",
        }
        return {k: v for k, v in out.items() if v}


def filter_clauses(f: LeadFilter, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter (status left out when counting per status)."""
    clauses: list[ColumnElement[bool]] = []
    if f.form is not None:
        clauses.append(Lead.form == f.form)
    if with_status and f.status is not None:
        clauses.append(Lead.status == f.status)
    if f.date_from is not None:
        clauses.append(Lead.created_at >= day_start(f.date_from))
    if f.date_to is not None:
        clauses.append(Lead.created_at < day_start(f.date_to + timedelta(days=1)))
    if f.language is not None:
        clauses.append(Lead.language == f.language)
    if f.spam == "exclude":
        clauses.append(Lead.is_spam.is_(False))
    elif f.spam == "only":
        clauses.append(Lead.is_spam.is_(True))
    clauses.extend(search_clauses(search_terms(f.q)))
    return clauses


def search_clauses(terms: list[str]) -> list[ColumnElement[bool]]:
    """Every term (lower-cased, as the column is) a substring of the lead's search text;
    `%`, `_` and the escape character in a term are plain characters."""
    if db.engine.dialect.name == "postgresql":
        # ILIKE: the operator the trigram index serves. Both sides are lower-case already.
        return [Lead.search_text.icontains(term, autoescape=True) for term in terms]
    return [Lead.search_text.contains(term, autoescape=True) for term in terms]


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
    # Exact, or with `capped` a floor: more than `total` leads match (a search's count stops).
    total: int
    page: int
    # With `capped`, the pages known so far: this one, and the next if it has leads.
    pages: int
    # None when a search matched more than `count_floor` leads: not counted per status.
    counts: dict[LeadStatus, int] | None
    capped: bool = False
    count_floor: int = 0


def list_leads(
    f: LeadFilter, page: int, per_page: int, *, count_limit: int | None = COUNT_LIMIT
) -> LeadPage:
    """One page of leads, newest first, with the total and the count per status. A search
    counts at most `count_limit` matches: a common word would otherwise be counted to the
    end of the table."""
    limit = count_limit if search_terms(f.q) else None
    counts = _status_counts(f, with_status=False, limit=limit)
    if counts is not None:
        # The counts per status already add up to the total: no second count query.
        total = counts[f.status] if f.status is not None else sum(counts.values())
    elif f.status is not None:
        # Too many in all, but perhaps not in this status: count it alone.
        in_status = _status_counts(f, with_status=True, limit=limit)
        total = in_status[f.status] if in_status is not None else None
    else:
        total = None
    floor = limit or 0
    if total is not None:
        page, pages = page_bounds(total, page, per_page)
        rows = _rows(f, page, per_page, per_page)
        return LeadPage(rows, total, page, pages, counts, count_floor=floor)
    # More than the limit match: the page asks for one row more, which says whether an
    # older page exists.
    page = max(page, 1)
    rows = _rows(f, page, per_page, per_page + 1)
    pages = page + 1 if len(rows) > per_page else page
    return LeadPage(rows[:per_page], floor, page, pages, counts, capped=True, count_floor=floor)


def _rows(f: LeadFilter, page: int, per_page: int, take: int) -> list[Lead]:
    """`take` leads from the start of the page, newest first."""
    query = (
        select(Lead)
        .where(*filter_clauses(f))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(take)
        .offset((page - 1) * per_page)
    )
    return list(db.session.scalars(query).all())


def _status_counts(
    f: LeadFilter, *, with_status: bool, limit: int | None
) -> dict[LeadStatus, int] | None:
    """Leads per status for the filter; None when more than `limit` match, found by
    counting over a subquery that stops at limit + 1 rows."""
    clauses = filter_clauses(f, with_status=with_status)
    if limit is None:
        query = select(Lead.status, func.count()).where(*clauses).group_by(Lead.status)
    else:
        matched = select(Lead.status).where(*clauses).limit(limit + 1).subquery()
        query = select(matched.c.status, func.count()).group_by(matched.c.status)
    by_status = dict(db.session.execute(query).all())
    if limit is not None and sum(by_status.values()) > limit:
        return None
    return {status: by_status.get(status, 0) for status in LeadStatus}
