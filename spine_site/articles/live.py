"""Each worker's copy of the published articles, rendered once and followed from the database.

Pages look articles up in memory. At most every ARTICLES_CHECK_SECONDS a request asks the
database how many articles there are and when the newest changed; when that moves, or a
scheduled article's time has come, the worker renders the published set again. A publish so
reaches every worker on every host within seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from flask import Flask, has_app_context
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from spine_site.articles.preview import source_of
from spine_site.articles.render import Article, Library, markdown_parser, render_article
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRedirect
from spine_site.web.i18n import DEFAULT

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    library: Library = field(default_factory=lambda: Library([]))
    # Addresses that answer 301 and 410, by (language, slug): an old slug -> the current
    # slug in that language; the slugs of articles taken down (and their old slugs).
    moved: dict[tuple[str, str], str] = field(default_factory=dict)
    gone: set[tuple[str, str]] = field(default_factory=set)
    next_publish: datetime | None = None


def _load(now: datetime) -> Snapshot:
    md = markdown_parser()
    rendered: list[Article] = []
    gone: set[tuple[str, str]] = set()
    next_publish = None
    articles = db.session.scalars(select(ArticleRecord).where(ArticleRecord.live_id.is_not(None)))
    for record in articles:
        live = record.live
        assert live is not None and record.publish_at is not None
        if record.unpublished_at is not None:
            gone.add((record.language, record.slug))
            continue
        if record.publish_at > now:
            next_publish = min(next_publish or record.publish_at, record.publish_at)
            continue
        # The same source the staff preview renders (dated as the live page is).
        source = source_of(record, live)
        rendered.append(render_article(source, md))
    public = {(a.language, a.slug) for a in rendered}
    # A related article that is not public (yet, or any more) is left out, not an error.
    rendered = [
        replace(a, related=[s for s in a.related if (a.language, s) in public]) for a in rendered
    ]
    library = Library(rendered)
    return Snapshot(library, *_addresses(library, gone), next_publish)


def _addresses(
    library: Library, gone: set[tuple[str, str]]
) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """The 301s and 410s of old slugs: an old slug leads on in its article's language, and
    in each other language to that article's published translation unless that language
    has its own page or 410 there. A redirect starts only once the new address is live."""
    moved: dict[tuple[str, str], str] = {}
    gone = set(gone)
    rows = db.session.execute(
        select(ArticleRedirect.old_slug, ArticleRecord.language, ArticleRecord.slug).join(
            ArticleRecord, ArticleRecord.id == ArticleRedirect.article_id
        )
    ).all()
    for old, language, slug in rows:
        if library.get(slug, language) is not None:
            moved[(language, old)] = slug
        elif (language, slug) in gone:
            gone.add((language, old))
    for old, language, slug in rows:
        found = library.get(slug, language)
        if found is None:
            continue
        for code, version in library.versions(found).items():
            key = (code, old)
            if key not in moved and key not in gone and library.get(old, code) is None:
                moved[key] = version.slug
    return moved, gone


@dataclass(frozen=True)
class Shelf:
    """The public articles of one language, as its pages look them up."""

    library: Library
    snapshot: Snapshot
    language: str

    @property
    def all(self) -> list[Article]:
        return self.library.in_language(self.language)

    def get(self, slug: str) -> Article | None:
        return self.library.get(slug, self.language)

    def related(self, article: Article) -> list[Article]:
        return self.library.related(article)

    def versions(self, article: Article) -> dict[str, Article]:
        return self.library.versions(article)

    def alternates(self, article: Article) -> dict[str, str]:
        """The article's page in each language it is published in (code -> path), for its
        hreflang links and language link; empty when it has no published translation."""
        versions = self.versions(article)
        return {code: a.path for code, a in versions.items()} if len(versions) > 1 else {}

    def moved_to(self, slug: str) -> str | None:
        return self.snapshot.moved.get((self.language, slug))

    def is_gone(self, slug: str) -> bool:
        return (self.language, slug) in self.snapshot.gone


class LiveArticles:
    """The public articles as `Library` offered them (`all` of every language, `get`,
    `related`; `shelf` for one language's pages), kept current."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.check_seconds = float(app.config.get("ARTICLES_CHECK_SECONDS", 2))
        self.snapshot = Snapshot()
        self._stamp: tuple[int, datetime | None] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    # Library's interface, each read first making sure the copy is current.
    @property
    def all(self) -> list[Article]:
        return self.current().all

    def get(self, slug: str, language: str = DEFAULT) -> Article | None:
        return self.current().get(slug, language)

    def related(self, article: Article) -> list[Article]:
        return self.current().related(article)

    def shelf(self, language: str) -> Shelf:
        """One language's articles, from one copy (a page made from it stays consistent)."""
        self.current()
        snapshot = self.snapshot
        return Shelf(snapshot.library, snapshot, language)

    def current(self) -> Library:
        if time.monotonic() - self._checked >= self.check_seconds:
            with self._lock:
                if time.monotonic() - self._checked >= self.check_seconds:
                    if has_app_context():
                        self._refresh()
                    else:  # a command or a test reading the articles
                        with self.app.app_context():
                            self._refresh()
                    self._checked = time.monotonic()
        return self.snapshot.library

    def _refresh(self) -> None:
        from spine_site.articles.files import seed_if_empty

        try:
            stamp = select(func.count(), func.max(ArticleRecord.updated_at))
            count, newest = db.session.execute(stamp).one()
            if count == 0 and seed_if_empty():
                count, newest = db.session.execute(stamp).one()
            now = utcnow()
            due = self.snapshot.next_publish is not None and self.snapshot.next_publish <= now
            if (count, newest) != self._stamp or due:
                self.snapshot = _load(now)
                self._stamp = (count, newest)
                self._changed(newest)
        except (OperationalError, ProgrammingError) as exc:
            if self._stamp is None:
                # Nothing to show yet: the page answers 503 (public/views.py), not 404.
                raise
            # The database is away for a moment: keep serving the copy this worker has.
            log.warning("Articles could not be checked (%s); serving the last copy", type(exc))
        finally:
            # End the read: a cached page must not hold a transaction open.
            db.session.rollback()

    def _changed(self, newest: datetime | None) -> None:
        """Move the public pages' Last-Modified on to the articles' newest change."""
        extensions = self.app.extensions
        if newest is not None:
            files = extensions.get("content_changed_files", extensions.get("content_changed", 0))
            extensions["content_changed_files"] = files
            extensions["content_changed"] = max(int(files), int(newest.timestamp()))
