"""The staff search: each term must be a substring of a lead's `search_text` (lower-cased
names, email and phone digits), found through an index on either database.

One interface, `search_clauses(terms)`, two indexes behind it:

- PostgreSQL: a GIN trigram index (pg_trgm, `gin_trgm_ops`) on `lead.search_text`. The
  clause stays the plain `search_text LIKE '%term%'` it always was; the planner answers it
  from the index and rechecks each candidate row, so the results are exactly the LIKE's.
- SQLite: an FTS5 table with the trigram tokenizer (SQLite >= 3.34), external content over
  `lead`, kept current by triggers on lead's insert, delete and update of search_text. The
  terms' trigrams are looked up as FTS5 strings, all in one query (`lead.id IN (SELECT
  rowid FROM lead_fts WHERE lead_fts MATCH '"ada" AND "lov" AND ...')`); the same LIKEs are kept
  beside it as the recheck, so the results are the LIKE's even where FTS5's Unicode case
  folding is looser than Python's lower() (it folds the Greek final sigma).

A trigram index needs three characters to narrow anything: terms of one or two characters
are the LIKE alone, a scan, as before (slower at 100,000 leads, still correct).

The FTS5 table and its shadow tables are not in the models' metadata, and the trigram index
exists on PostgreSQL only: `autogenerate_filters` tells Alembic's comparison so (migrations/
env.py and tests/test_migrations.py use it). On SQLite, a later `batch_alter_table("lead")`
rebuilds the table and so drops the triggers: such a revision must run SQLITE_TRIGGERS again
(tests/test_lead_search.py fails if the index stops following edits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Boolean, ColumnElement, column, func, literal_column, select, table
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg

from .extensions import db
from .models import Lead

# Shortest term an index helps with (a trigram is three characters).
MIN_INDEXED_LENGTH = 3
# From this many matches on, SQLite pages a search newest-first down ix_lead_created_at:
# about per_page * leads / matches index entries read (5,000 at 100,000 leads), against one
# row read per match the other way (see search_clauses).
WALK_FROM = 1000
# A walk that tests each lead with the LIKE alone reads about depth / share leads (the
# share of leads that match); up to this many (~3 ms) that beats asking FTS5 for every
# match first (11,052 for a common surname at 100,000 leads, ~10 ms) to test each against.
LIKE_WALK_READS = 2000
# PostgreSQL, a capped search: sorting its matches (the trigram index, ~4 us a match, at
# 100,000 leads) beats walking the date index (~2 us a lead read) when a walk reads at least
# this many leads per match; and it is tried only for up to SORT_UP_TO expected matches, the
# fetch stopping past SORT_BOUND of them (when the estimate was wrong) for the walk instead.
SORT_WALK_RATIO = 3
SORT_UP_TO = 2000
SORT_BOUND = 4000

FTS_TABLE = "lead_fts"
# What FTS5 creates beside a virtual table (external content: no _content table).
FTS_SHADOW_TABLES = frozenset(
    f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config")
)
PG_TRIGRAM_INDEX = "ix_lead_search_text_trgm"

SQLITE_FTS_TABLE = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "search_text, content='lead', content_rowid='id', tokenize='trigram')"
)
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON lead BEGIN
        INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON lead BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF id, search_text ON lead
    BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
)


def search_clauses(
    terms: list[str],
    *,
    matches: int | None = None,
    stream: bool = False,
    walk_reads: float | None = None,
) -> list[ColumnElement[bool]]:
    """Each term (lower-cased, as the column is) a substring of the lead's search text.

    On SQLite the terms of three characters or more go to FTS5 together, as one query
    (their trigrams: `"ada" AND "lov" AND "ove" ...`), so only leads that have them all
    are read.

    `stream` joins the FTS5 table instead (`lead_fts.rowid = lead.id`): its matches come
    one by one, so a count that stops at a limit reads only that many. The `IN` form reads
    every match first (11,052 for a common surname), which a page sorted by date needs.

    `matches`, when known, is how many leads the whole filter finds (the list knows it from
    its counts before it asks for a page). On SQLite, past WALK_FROM a page is found faster
    by walking the list's newest-first index and stopping once the page is full than by
    reading every match to sort it: `lead.id + 0` keeps the planner from starting at the
    matches. `walk_reads`, the leads that walk would read with the LIKE alone (the list
    estimates it from its count), drops FTS5 from the page when it is small.
    (PostgreSQL's planner judges all this itself, from its statistics.)
    """
    # The LIKE is the search on PostgreSQL (the trigram index serves it), and on SQLite the
    # recheck of what FTS5 found: exactly today's substring semantics either way.
    clauses = [Lead.search_text.contains(term, autoescape=True) for term in terms]
    indexed = [term for term in terms if len(term) >= MIN_INDEXED_LENGTH]
    if indexed and db.engine.dialect.name == "sqlite":
        if walk_reads is not None and walk_reads <= LIKE_WALK_READS:
            return clauses
        query = fts5_query(indexed)
        if stream:
            fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
            return [fts.c.rowid == Lead.id, fts.c[FTS_TABLE].op("MATCH")(query), *clauses]
        matched = (
            select(literal_column("rowid"))
            .select_from(table(FTS_TABLE))
            .where(literal_column(FTS_TABLE).op("MATCH")(query))
        )
        lead_id = Lead.id + 0 if matches is not None and matches >= WALK_FROM else Lead.id
        clauses.insert(0, lead_id.in_(matched))
    return clauses


def newest_first(terms: list[str], matches: int | None) -> list[ColumnElement[Any]]:
    """The list's order, newest first. On PostgreSQL, for a search known to match fewer
    than WALK_FROM leads, written so that no index serves it: the planner then finds the
    matches first (the trigram index) and sorts them, whatever it guesses their number to
    be. Its guess comes from a sample: it once took 959 leads for the 49 that hold "5550"
    and walked the date index through all 100,000 (300 ms instead of 1)."""
    created = Lead.created_at
    few = terms and matches is not None and matches < WALK_FROM
    if few and db.engine.dialect.name == "postgresql":
        created = func.coalesce(Lead.created_at, Lead.created_at)
    return [created.desc(), Lead.id.desc()]


def sort_beats_walk(estimate: float | None, walk: float | None) -> bool:
    """Whether a capped search on PostgreSQL should sort its matches rather than walk the
    date index: `estimate`, the matches expected in all, few beside `walk`, the leads a
    walk would read to fill the page. (SQLite pages its own way: see search_clauses.)"""
    if estimate is None or walk is None or db.engine.dialect.name != "postgresql":
        return False
    return estimate <= SORT_UP_TO and estimate * SORT_WALK_RATIO <= walk


def newest_matches(clauses: list[ColumnElement[bool]], offset: int, take: int) -> list[int] | None:
    """The ids of `take` leads from `offset` on, newest first, among every lead the clauses
    find, when those are at most SORT_BOUND; None when there are more (then the date-index
    walk is short). PostgreSQL only.

    The matches come from a MATERIALIZED CTE, which PostgreSQL plans for all its rows (so
    through the trigram index, whatever it guesses their number to be); the LIMIT outside
    stops reading it at SORT_BOUND + 1, so a wrong guess costs a bounded read. Fewer than
    that and the CTE held every match: sorting them gives the list's order exactly. The
    sort and the slice happen in the query, which returns one row (the 1,100 ids of 'ada
    lovelace' read into Python cost 5 ms of CPU)."""
    every = select(Lead.id, Lead.created_at).where(*clauses).cte("every")
    every = every.prefix_with("MATERIALIZED", dialect="postgresql")
    first = select(every.c.id, every.c.created_at).limit(SORT_BOUND + 1).subquery()
    ordered = aggregate_order_by(first.c.id, first.c.created_at.desc(), first.c.id.desc())
    # PostgreSQL's arrays count from 1 and a slice includes both ends.
    page = array_agg(ordered)[offset + 1 : offset + take]
    found, ids = db.session.execute(select(func.count(), page).select_from(first)).one()
    return list(ids or []) if found <= SORT_BOUND else None


def unselective(clause: ColumnElement[bool], terms: list[str]) -> ColumnElement[bool]:
    """The spam filter beside a search: on SQLite, marked `likely()` (true of ~95% of leads),
    so that a planner without statistics (no ANALYZE has run) starts from the search's
    matches, not from an index on is_spam that reads nearly every lead. With only short
    terms (no index) it makes a count scan the table in its own order, and stop early when
    capped, instead of looking up 95% of the leads one by one from the is_spam index."""
    if db.engine.dialect.name != "sqlite" or not terms:
        return clause
    return func.likely(clause, type_=Boolean)


def fts5_query(terms: list[str]) -> str:
    """Trigrams that cover every character of every term, as FTS5 strings joined by AND: a
    superset of the leads that hold each term (the LIKE beside it rechecks), found without
    comparing positions as a phrase does. "lovelace" is `"lov" AND "ela" AND "ace"`: 2.1 ms
    at 100,000 leads with "ada", against 3.6 ms for all six trigrams and 5.4 ms as a phrase.
    """
    width = MIN_INDEXED_LENGTH
    trigrams = dict.fromkeys(
        term[i : i + width]
        for term in terms
        for i in [*range(0, len(term) - width + 1, width), len(term) - width]
    )
    return " AND ".join(fts5_phrase(trigram) for trigram in trigrams)


def fts5_phrase(term: str) -> str:
    """The term as one FTS5 string: operators, `*`, `NEAR(` and column filters inside it are
    plain characters (https://sqlite.org/fts5.html#fts5_strings)."""
    return '"' + term.replace('"', '""') + '"'


def autogenerate_filters(dialect: str) -> dict[str, Callable[..., bool]]:
    """Alembic `include_name` / `include_object`: leave out what the models cannot declare
    (the FTS5 tables) and the trigram index where it does not exist (anything but PostgreSQL).
    """

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and (name == FTS_TABLE or name in FTS_SHADOW_TABLES))

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any):
        return not (type_ == "index" and name == PG_TRIGRAM_INDEX and dialect != "postgresql")

    return {"include_name": include_name, "include_object": include_object}
