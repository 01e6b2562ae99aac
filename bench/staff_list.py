#!/usr/bin/env python3
"""How the staff lead list, the intake queue and the CSV export hold up with 100,000 leads.

    .venv/bin/python bench/staff_list.py                      # SQLite in a temp folder
    .venv/bin/python bench/staff_list.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_staff_list
    .venv/bin/python bench/staff_list.py --leads 20000        # a quicker run
    .venv/bin/python bench/staff_list.py --skip-export        # the list, queue and search only
    .venv/bin/python bench/staff_list.py --search-only        # the searches only

On PostgreSQL the named database is dropped and created again first (never name one in use).
Builds the schema with the real migrations, inserts synthetic leads (spread over a year,
every status, 5% spam; of the new ones about half never tried, the rest and the contacted
ones with a next try from a week ago to a week ahead, a fifth of them owned by the signed-in
person), then times each query the list page and each queue view runs (the queue: the five
counts, the page of cards with owners and attempts, and each card's business-hours waiting
time), repeated, and streams the whole export, CSV and Excel, while measuring Python's peak
memory; last, on PostgreSQL, the searches once more with the trigram index dropped, for a
comparison on the same data and the same machine load. Prints one line per figure; a
search's line ends with what the list shows as its total ("1,000+": the count stopped).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, insert, make_url, text

from spine_site import create_app
from spine_site.accounts import users
from spine_site.clock import clinic_zone
from spine_site.desk import queue
from spine_site.extensions import db
from spine_site.leads.export import ExportPlan
from spine_site.leads.export_xlsx import write_workbook
from spine_site.leads.lead_list import LeadFilter, list_leads
from spine_site.models import PG_TRIGRAM_INDEX, FormKind, Lead, LeadStatus, Person, Role, User

FIRST = ["Ada", "Grace", "Alan", "Mary", "José", "Wei", "Fatima", "Olga", "Liam", "Noor"]
LAST = ["Lovelace", "Hopper", "Turing", "Curie", "García", "Zhang", "Khan", "Ivanova", "Byrne"]


def populate(n: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    people = [
        {"id": i + 1, "email_normalized": f"p{i}@example.com", "created_at": now}
        for i in range(n // 2)
    ]
    db.session.execute(insert(Person), people)
    rows = []
    statuses = list(LeadStatus)
    for i in range(n):
        person = rng.randrange(len(people))
        rows.append(
            {
                "person_id": person + 1,
                "form": rng.choice([FormKind.APPOINTMENT, FormKind.GUIDE]),
                "status": rng.choice(statuses),
                "submission_token": f"{i:064x}",
                "created_at": now - timedelta(minutes=rng.randrange(365 * 24 * 60)),
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "email": f"p{person}@example.com",
                "phone": f"+1312{rng.randrange(10**7):07d}",
                "reason": "sciatica",
                "message": "Pain down the left leg, worse when sitting. " * 3,
                "consent_contact": True,
                "marketing_opt_in": False,
                "is_spam": rng.random() < 0.05,
            }
        )
        row = rows[-1]
        _intake_state(row, rng, now)
        row["search_text"] = " ".join(
            (row["first_name"], row["last_name"], row["email"], row["phone"][1:])
        ).lower()
        if len(rows) == 5000:
            db.session.execute(insert(Lead), rows)
            rows = []
    if rows:
        db.session.execute(insert(Lead), rows)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: statistics, and the visibility map
        # that lets counts read an index alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _intake_state(row: dict, rng: random.Random, now: datetime) -> None:
    """Where the desk stands with this request: never tried, or tried with a next try."""
    tried = row["status"] is not LeadStatus.NEW or rng.random() < 0.5
    row["first_attempt_at"] = row["created_at"] + timedelta(minutes=30) if tried else None
    row["unreached_attempts"] = 0
    row["next_follow_up_at"] = None
    row["owner_id"] = 1 if rng.random() < 0.2 else None
    if tried and row["status"] in (LeadStatus.NEW, LeadStatus.CONTACTED):
        row["unreached_attempts"] = rng.randrange(1, 4)
        row["next_follow_up_at"] = now + timedelta(minutes=rng.randrange(-7 * 1440, 7 * 1440))


def timed(label: str, fn, repeat: int = 20, note: str = "") -> None:
    """Wall time, median and p95; and this process's CPU time (on SQLite, where the query
    runs in this process, the figure a busy machine disturbs least)."""
    fn()  # warm up
    samples, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        db.session.rollback()
    samples.sort()
    cpu.sort()
    print(
        f"{label:<44} median {statistics.median(samples):7.1f} ms   "
        f"p95 {samples[int(len(samples) * 0.95) - 1]:7.1f} ms   "
        f"(cpu median {statistics.median(cpu):6.1f} ms, p95 {cpu[int(len(cpu) * 0.95) - 1]:6.1f})"
        + (f"   {note}" if note else "")
    )


SEARCHES = {
    "search 'lovelace'": "lovelace",
    "search phone digits '5550'": "5550",
    "search email 'p123@'": "p123@",
    "search two words 'ada lovelace'": "ada lovelace",
    "search 2 chars 'zh'": "zh",
}


def search_without_index(per_page: int) -> None:
    """PostgreSQL: the searches again with the trigram index dropped (every match counted,
    no count limit), on the same data and the same machine load."""
    db.session.execute(text(f"DROP INDEX {PG_TRIGRAM_INDEX}"))
    db.session.commit()
    for label, q in SEARCHES.items():
        timed(
            f"no trigram index: {label}",
            lambda q=q: list_leads(LeadFilter(q=q), 1, per_page, count_limit=None),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--skip-export", action="store_true", help="leave out the exports")
    parser.add_argument(
        "--search-only", action="store_true", help="only the searches, with and without index"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spine-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    if url.startswith("postgresql"):
        fresh_database(url)
    app = create_app(
        {
            "SECRET_KEY": "bench" * 8,
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(tmp),
            "OUTBOX_IN_PROCESS": False,
        }
    )
    with app.test_request_context():
        upgrade()
        started = time.perf_counter()
        users.create_user("desk@clinic.example", Role.STAFF, "lantern orbit pickle meadow")
        db.session.commit()
        populate(args.leads)
        print(
            f"database: {db.engine.dialect.name}, leads: {args.leads:,} "
            f"(inserted in {time.perf_counter() - started:.1f} s)"
        )
        per_page = app.config["STAFF_PAGE_SIZE"]
        if not args.search_only:
            list_and_queue_figures(app, per_page)
        search_figures(per_page)
        if not args.skip_export and not args.search_only:
            for kind in ("csv", "xlsx"):
                export_figures(kind)
        if db.engine.dialect.name == "postgresql":
            search_without_index(per_page)


def list_and_queue_figures(app: Flask, per_page: int) -> None:
    """The list without a search, as each filter and the intake queue's views ask for it."""
    today = date.today()
    cases = {
        "list, page 1 (count + rows + status counts)": (LeadFilter(), 1),
        "list, page 500": (LeadFilter(), 500),
        "list, status=new": (LeadFilter(status=LeadStatus.NEW), 1),
        "list, last 7 days": (LeadFilter(date_from=today - timedelta(days=7)), 1),
        "list, only spam": (LeadFilter(spam="only"), 1),
    }
    for label, (f, page) in cases.items():
        timed(label, lambda f=f, page=page: list_leads(f, page, per_page))

    desk = db.session.get(User, 1)
    hours = app.extensions["business_hours"]
    for view in queue.VIEWS:

        def page_of(view: str = view) -> None:
            found = queue.queue_page(view, desk, 1, per_page)
            for lead in found.leads:  # what the cards show
                queue.waiting_minutes(lead, hours, found.moments.now)
                _ = (lead.owner, lead.attempts)

        timed(f"queue, {view} (counts + page + waits)", page_of)


def search_figures(per_page: int) -> None:
    """Each search as the list runs it (counts, then the page), and what it shows as the
    total; then a common word's page 10 (the matches walked newest first to row 500)."""
    cases = {f"list, {label}": (LeadFilter(q=q), 1) for label, q in SEARCHES.items()}
    cases["list, search 'lovelace', page 10"] = (LeadFilter(q="lovelace"), 10)
    for label, (f, page) in cases.items():
        shown = list_leads(f, page, per_page)
        total = f"{shown.total:,}+" if shown.capped else f"{shown.total:,}"
        timed(label, lambda f=f, page=page: list_leads(f, page, per_page), note=f"shows {total}")
        db.session.rollback()


def fresh_database(url: str) -> None:
    """The named PostgreSQL database dropped and created again, empty (refused by the server
    while anything else is connected to it, so a database in use is never taken)."""
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()


def export_figures(kind: str) -> None:
    """Write the whole export (all leads, spam included) as the view does: once timed, then
    once more tracing Python's peak memory (tracing slows allocation-heavy code several
    times over, so it stays out of the timed run). The workbook's rows go to a temporary
    file, as in production."""

    def run() -> tuple[int, int]:
        plan = ExportPlan(LeadFilter(spam="include"), Role.STAFF)
        if kind == "csv":
            return plan.row_count, sum(len(chunk.encode()) for chunk in plan.rows(clinic_zone()))
        with tempfile.TemporaryFile() as body:
            write_workbook(plan, clinic_zone(), body, title="bench")
            return plan.row_count, body.tell()

    with RssWatch() as rss:
        started = time.perf_counter()
        rows, size = run()
        elapsed = time.perf_counter() - started
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{'export ' + kind + ', all leads':<44} {rows:,} rows, {size / 1e6:.1f} MB "
        f"in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s); "
        f"peak Python memory {peak / 1e6:.1f} MB; process RSS grew {rss.growth / 1e6:.1f} MB"
    )


class RssWatch:
    """The process's resident memory sampled every 20 ms while the block runs: what the
    C parts (lxml, zlib, the database driver) hold too, which tracemalloc does not see."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.start = self._rss()
        self.growth = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssWatch:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = max(self.peak, self._rss()) - self.start


if __name__ == "__main__":
    main()
