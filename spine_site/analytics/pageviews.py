"""Page-view counting without cookies: counts per (clinic day, path), kept in memory by each
web process and added to `page_view_day` in batches.

A page view costs a dictionary update, not a database write, and involves no cookie, IP
address or visitor id; a process killed with -9 loses at most its last few seconds of counts.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_app_context
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from spine_site.extensions import db
from spine_site.models import PageViewDay
from spine_site.ops import metrics
from spine_site.transaction import atomic

log = logging.getLogger(__name__)


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
        # Prometheus's own count, since start: these counts leave memory in batches.
        metrics.page_viewed()

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self) -> int:
        """Add the counts held here to page_view_day; on a database error keep them for later.
        In a request this uses the request's own session, so the reads that follow see these
        counts (on SQLite a second connection's commit would fall outside their snapshot)."""
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
            with atomic():
                add_views(counts)
        except SQLAlchemyError as error:
            log.warning("page views kept for later: %s", type(error).__name__)
            with self._lock:
                self._counts.update(counts)
            return 0
        return sum(counts.values())

    def start(self) -> None:
        """The flusher thread of this process, and its exit hook (from the first counted view).
        With ANALYTICS_FLUSH_SECONDS 0, no thread: counts are added when the analytics page
        is opened and when the process exits."""
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


def counter() -> ViewCounter:
    """This app's counter (one per app, made by the factory)."""
    return current_app.extensions["view_counter"]
