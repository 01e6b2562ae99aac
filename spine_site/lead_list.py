"""The staff lead list: filters, search, paging and counts per status. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select, text

from . import lead_search
from .clock import day_start
from .extensions import db
from .models import FormKind, Lead, LeadStatus

# A search's counts stop here: past it the list says "more than 1,000" (see list_leads).
# Not below lead_search.WALK_FROM, so a capped search always pages by walking the dates.
COUNT_LIMIT = 1000


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
    f: LeadFilter,
    *,
    with_status: bool = True,
    matches: int | None = None,
    stream: bool = False,
    walk_reads: float | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter (status left out when counting per status). `matches`, how
    many leads the filter finds when that is known, and `walk_reads` let the search choose
    its plan; `stream` has it find matches one by one, for a count that stops early."""
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
    clauses.extend(
        lead_search.search_clauses(terms, matches=matches, stream=stream, walk_reads=walk_reads)
    )
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
    """One page of leads, newest first, with the total and the count per status.

    A search counts at most `count_limit` matches: a common word ("lovelace" in 11% of
    100,000 leads) cost more to count than to list (every match read for its status),
    and past a thousand the staff narrow the search rather than read the number."""
    limit = count_limit if search_terms(f.q) else None
    counted = _status_counts(f, with_status=False, limit=limit)
    counts = counted.counts
    if counts is not None:
        # The counts per status already add up to the total: no second count query.
        total = counts[f.status] if f.status is not None else sum(counts.values())
    elif f.status is not None:
        # Too many in all, but perhaps not in this status: count it alone.
        counted = _status_counts(f, with_status=True, limit=limit)
        total = counted.counts[f.status] if counted.counts is not None else None
    else:
        total = None
    floor = limit or 0
    if total is not None:
        page, pages = page_bounds(total, page, per_page)
        rows = _rows(f, page, per_page, per_page, total)
        return LeadPage(rows, total, page, pages, counts, count_floor=floor)
    # More than the limit match (only a limited count leaves a total unknown): the page
    # asks for one row more, which says whether an older page exists.
    page = max(page, 1)
    # Walking newest first, about this many leads are read to reach the page's last row.
    walk = (page * per_page + 1) / counted.share if counted.share else None
    rows = _rows(f, page, per_page, per_page + 1, floor + 1, walk, counted.estimate)
    pages = page + 1 if len(rows) > per_page else page
    return LeadPage(rows[:per_page], floor, page, pages, counts, capped=True, count_floor=floor)


def _rows(
    f: LeadFilter,
    page: int,
    per_page: int,
    take: int,
    matches: int,
    walk: float | None = None,
    estimate: float | None = None,
) -> list[Lead]:
    """`take` leads from the start of the page, newest first. `estimate`, the matches a
    capped count expects in all, lets PostgreSQL sort them instead of walking (see below)."""
    terms = search_terms(f.q)
    offset = (page - 1) * per_page
    clauses = filter_clauses(f, matches=matches, walk_reads=walk)
    if lead_search.sort_beats_walk(estimate, walk):
        # A capped search whose matches are few beside the leads a walk would read ("ada
        # lovelace": ~1,100 matches, a 4,600-lead walk): its matches, sorted, if they are
        # as few as expected; otherwise (the estimate was wrong) the walk after all.
        found = lead_search.newest_matches(clauses, offset, take)
        if found is not None:
            return _by_ids(found)
    newest = lead_search.newest_first(terms, matches)
    query = select(Lead).where(*clauses).order_by(*newest).limit(take).offset(offset)
    return list(db.session.scalars(query).all())


def _by_ids(ids: list[int]) -> list[Lead]:
    """These leads, newest first (the list's order)."""
    if not ids:
        return []
    query = select(Lead).where(Lead.id.in_(ids)).order_by(Lead.created_at.desc(), Lead.id.desc())
    return list(db.session.scalars(query).all())


@dataclass(frozen=True)
class _Counted:
    # None when more than the limit match.
    counts: dict[LeadStatus, int] | None
    # The share of leads that match, from the ids a limited count read (in id order on
    # SQLite, which is where the search uses it); None when unknown.
    share: float | None = None
    # About how many leads match in all: the share times the span of all leads' ids.
    estimate: float | None = None


def _status_counts(f: LeadFilter, *, with_status: bool, limit: int | None) -> _Counted:
    """Leads per status for the filter; no counts when more than `limit` match, found by
    reading at most limit + 1 of them."""
    clauses = filter_clauses(f, with_status=with_status, stream=limit is not None)
    if limit is None:
        query = select(Lead.status, func.count()).where(*clauses).group_by(Lead.status)
        by_status = dict(db.session.execute(query).all())
        return _Counted({status: by_status.get(status, 0) for status in LeadStatus})
    if db.engine.dialect.name == "postgresql":
        # The share below comes from the span of the ids read, which must be one run of the
        # table. PostgreSQL starts a big table's sequential scan (a term too short for the
        # index) where the last one stopped, so that scans can share reads; one that wraps
        # around reads ids from both ends, and their span made the share tiny: one "zh" in
        # seven then tried sorting its 10,000 matches, 23 ms lost at 100,000 leads. Scans in
        # this transaction start at the first page instead.
        db.session.execute(text("SET LOCAL synchronize_seqscans = off"))
    # PostgreSQL plans a CTE for all its rows, so the search takes its index whatever the
    # planner guesses it matches (a LIMIT inside had it scan all 100,000 leads for 49 when
    # it guessed 959); the LIMIT outside still stops reading at limit + 1.
    every = select(Lead.status, Lead.id).where(*clauses).cte("matched")
    every = every.prefix_with("MATERIALIZED", dialect="postgresql")
    matched = select(every.c.status, every.c.id).limit(limit + 1).subquery()
    # The span of all leads' ids turns the share into a number: two subqueries, each one
    # index lookup (SQLite reads the whole table for max(id) - min(id) in one query).
    every_id = (
        select(func.max(Lead.id)).scalar_subquery()
        - select(func.min(Lead.id)).scalar_subquery()
        + 1
    )
    rows = db.session.execute(
        select(
            matched.c.status,
            func.count(),
            func.min(matched.c.id),
            func.max(matched.c.id),
            every_id,
        ).group_by(matched.c.status)
    ).all()
    found = sum(row[1] for row in rows)
    if found <= limit:
        return _Counted({status: 0 for status in LeadStatus} | {row[0]: row[1] for row in rows})
    span = max(row[3] for row in rows) - min(row[2] for row in rows) + 1
    return _Counted(None, found / span, found / span * rows[0][4])
