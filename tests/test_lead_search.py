"""The staff search finds exactly what a substring test over search_text finds: for names,
emails, phone digits, Unicode, LIKE's wildcards and quotes in the terms; it counts up to a
limit and pages newest first; on PostgreSQL the trigram index serves it."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.leads import lead_list
from spine_site.leads.lead_list import LeadFilter
from spine_site.models import PG_TRIGRAM_INDEX, FormKind, Lead, LeadStatus, Person

FIRST = ["Ada", "Grace", "José", "Zoë", "李明", "李明华", "İrem", "Σοφία", "Siân", "O'Neil", "Ana"]
LAST = [
    "Lovelace",
    "Hopper",
    "García",
    "ΟΔΥΣΣΕΥΣ",
    'Smith "Smitty"',
    "Near(Far",
    "And*Or",
    "50%_Off",
    "Back\\Slash/Fwd",
    "{Col}:Name",
    None,
]

TERMS = [
    # names, emails, phone digits, as typed
    "lovelace", "ada", "Ada Lovelace", "grace hopper", "garcía", "garcia", "josé", "jose",
    "example.com", "p1@", "p12@example", "@example", "3128", "5550", "(312) 867-5309", "312",
    # Unicode, and terms shorter than a trigram (the LIKE alone)
    "李明", "李明华", "明华", "李", "zoë", "zoe", "i̇rem", "σοφία", "οδυσσευς", "σευσ", "siân",
    "a", "ad", "12", "@", "1",
    # LIKE's wildcards and escape characters, quotes
    "%", "_", "50%", "%_o", "0%_", "\\", "/", "\\slash/", "o'neil", "'", "''",
    # operators and syntax of full-text engines: plain characters here
    '"', '""', '"smitty"', 'smith "smitty"', "*", "and*", "and*or", "ada*", "AND", "OR",
    "lovelace AND hopper", "lovelace OR hopper", "NOT", "near(", "near(far", "NEAR(ada",
    "search_text:ada", "{col}:name", "{col}", ":", "^ada", "-ada", "+ada", "(ada)",
    # nothing
    "xyzzy", "lovelacex",
]  # fmt: skip


def _make_leads(n: int, seed: int = 16) -> None:
    rng = random.Random(seed)
    now = utcnow()
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = rng.choice([f"p{i}", f"{first}.{last or 'x'}{i}".replace(" ", "")])
        email = f"{local}@{rng.choice(['example.com', 'Example.ORG'])}"
        person = Person(email_normalized=f"{i}-{email.lower()}", created_at=now)
        phone = rng.choice([None, f"+1312{rng.randrange(10**7):07d}", "+13128675309"])
        lead = Lead(
            person=person,
            form=rng.choice(list(FormKind)),
            status=rng.choice(list(LeadStatus)),
            submission_token=f"search-{i}",
            created_at=now - timedelta(minutes=i),
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            consent_contact=True,
            marketing_opt_in=False,
            is_spam=rng.random() < 0.1,
        )
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        lead.search_text = " ".join(p for p in (first, last, email, digits) if p).lower()
        db.session.add(lead)
    db.session.commit()


def _found(q: str) -> set[int]:
    """What the staff search finds (spam included: every lead is a candidate)."""
    clauses = lead_list.filter_clauses(LeadFilter(q=q, spam="include"))
    found = db.session.scalars(select(Lead.id).where(*clauses)).all()
    assert len(found) == len(set(found)), q
    return set(found)


def _substring(q: str) -> set[int]:
    """Today's meaning, in Python: every term a substring of the stored search text."""
    terms = lead_list.search_terms(q)
    rows = db.session.execute(select(Lead.id, Lead.search_text)).all()
    return {lead_id for lead_id, stored in rows if all(t in stored for t in terms)}


def _assert_same_as_substring_search() -> int:
    """Every term finds what the substring test finds; returns how many found something."""
    hits = 0
    for q in TERMS:
        expected = _substring(q)
        assert _found(q) == expected, q
        hits += bool(expected)
    return hits


@pytest.fixture
def leads(app):
    with app.app_context():
        _make_leads(300)
    return app


def test_search_finds_what_a_substring_test_finds(leads):
    with leads.app_context():
        # Two thirds of the terms find something (the rest are meant to find nothing: syntax
        # that is no substring, accents left out): not a comparison of empty sets.
        assert _assert_same_as_substring_search() >= len(TERMS) * 2 // 3


@pytest.mark.postgresql_only
def test_on_postgresql_the_trigram_index_serves_the_search(leads):
    with leads.app_context():
        # A few hundred rows fit in a few pages, where a scan is cheaper and the planner
        # rightly takes it: with scans off, the search alone shows whether the index can
        # serve it, and that it then finds exactly the substring search's leads.
        for q in TERMS:
            for term in lead_list.search_terms(q):
                if len(term) < 3:  # a trigram index needs three characters to narrow
                    continue
                db.session.execute(text("SET LOCAL enable_seqscan = off"))
                query = select(Lead.id).where(*lead_list.search_clauses([term]))
                # The statement as the app sends it: the term a parameter.
                compiled = query.compile(db.engine)
                explain = db.session.connection().exec_driver_sql(
                    f"EXPLAIN {compiled.string}", compiled.params
                )
                plan = "\n".join(explain.scalars())
                found = set(db.session.scalars(query))
                db.session.rollback()
                assert f"Bitmap Index Scan on {PG_TRIGRAM_INDEX}" in plan, plan
                assert found == _substring(term), term


def test_the_migrated_schema_has_the_search_index_and_no_other(app):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            leftovers = text("SELECT name FROM sqlite_master WHERE name LIKE 'lead_fts%'")
            assert db.session.scalars(leftovers).all() == []
        else:
            indexdef = db.session.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": PG_TRIGRAM_INDEX},
            )
            assert "USING gin (search_text gin_trgm_ops)" in indexdef


def _newest_first(ids: set[int]) -> list[int]:
    leads = db.session.scalars(select(Lead).where(Lead.id.in_(ids))).all()
    return [lead.id for lead in sorted(leads, key=lambda x: (x.created_at, x.id), reverse=True)]


@pytest.mark.parametrize("limit", [None, 5, 40])
def test_counts_are_exact_up_to_the_limit_and_say_more_than_past_it(leads, limit):
    """Every count the list shows is the substring search's, or, past the search's count
    limit, marked as more than the limit; the page is the same newest leads either way."""
    with leads.app_context():
        for q in ("lovelace", "ada", "example.com", "3128", "a", "12", "σευσ", "xyzzy"):
            expected = _substring(q)
            by_status = {s: 0 for s in LeadStatus}
            for lead_id in expected:
                by_status[db.session.get(Lead, lead_id).status] += 1
            for status in (None, LeadStatus.NEW):
                f = LeadFilter(q=q, spam="include", status=status)
                in_view = (
                    expected
                    if status is None
                    else {i for i in expected if db.session.get(Lead, i).status is status}
                )
                for page in (1, 2):
                    shown = lead_list.list_leads(f, page, 10, count_limit=limit)
                    assert [lead.id for lead in shown.leads] == _newest_first(in_view)[
                        (shown.page - 1) * 10 : shown.page * 10
                    ], (q, status, page)
                    if limit is not None and len(in_view) > limit:
                        assert shown.capped and shown.total == limit, (q, status)
                        assert shown.page == page
                        assert shown.pages == page + (len(in_view) > page * 10), (q, page)
                    else:
                        assert not shown.capped and shown.total == len(in_view), (q, status)
                    if limit is not None and len(expected) > limit:
                        assert shown.counts is None and shown.count_floor == limit, q
                    else:
                        assert shown.counts == by_status, (q, status)
