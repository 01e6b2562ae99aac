"""Articles in and out as Markdown files with YAML front matter: the bundled files a fresh
database takes in by itself, imports, and an export for backup and review in git.

Front matter: title, description, published, updated, reviewer, summary, faq, related,
`reviewed` (the review date; `updated` when absent), on export `state`, and for a
translation `language` (es) and `translation_of` (the English article's slug). A folder
holds the English files and the Spanish ones in its es/ folder; the import reads English
first, so a translation finds its English article.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from spine_site.articles import editorial
from spine_site.articles.editorial import Draft
from spine_site.articles.render import (
    ARTICLES_DIR,
    ArticleError,
    article_files,
    parse_article,
    split_front_matter,
)
from spine_site.clock import clinic_zone, utcnow
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRedirect, User, Workflow
from spine_site.transaction import atomic
from spine_site.web.i18n import DEFAULT

log = logging.getLogger(__name__)


def _moment(day: date) -> datetime:
    """A file's date as a stored instant: 9 am that day, clinic time."""
    return datetime.combine(day, time(9), tzinfo=clinic_zone())


def import_file(path: Path, by: User | None = None) -> tuple[ArticleRecord, str]:
    """Take in one file: a new article (published as the file says), or a new revision of
    the article with that slug in the file's language; with "new", "updated" or "unchanged".
    Raises ArticleError for a malformed file, EditorialError for content the rules refuse."""
    rendered = parse_article(path)  # every check of a file
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path.name)
    draft = Draft(
        title=rendered.title,
        slug=rendered.slug,
        description=rendered.description,
        summary=rendered.summary,
        body=body.strip() + "\n",
        faq=[{"q": str(i["q"]).strip(), "a": str(i["a"]).strip()} for i in meta.get("faq") or []],
        related=list(rendered.related),
        reviewer=rendered.reviewer,
        reviewed_on=rendered.reviewed,
    )
    language = rendered.language
    article = db.session.scalar(
        select(ArticleRecord).where(
            ArticleRecord.language == language, ArticleRecord.slug == draft.slug
        )
    )
    status = "new" if article is None else "updated"
    if article is None:
        original = _original(rendered.translation_of, path.name)
        article = editorial.create(
            draft,
            by,
            note=f"imported from {path.name}",
            translation_of=original,
            language=language,
        )
    elif editorial.save(article, draft, by, note=f"imported from {path.name}") is None:
        return article, "unchanged"
    if str(meta.get("state", "published")) == "published":
        assert article.head is not None
        article.live = article.head
        article.workflow = Workflow.DRAFT
        article.unpublished_at = None
        article.first_published_at = article.first_published_at or _moment(rendered.published)
        article.publish_at = _moment(rendered.updated)
        editorial.move_address(article, article.slug, draft.slug)
    return article, status


def _original(slug: str | None, source: str) -> ArticleRecord | None:
    """The English article a translation file names (by its slug, or a slug it had)."""
    if slug is None:
        return None
    found = db.session.scalar(
        select(ArticleRecord).where(ArticleRecord.language == DEFAULT, ArticleRecord.slug == slug)
    )
    if found is None:
        found = db.session.scalar(
            select(ArticleRecord)
            .join(ArticleRedirect, ArticleRedirect.article_id == ArticleRecord.id)
            .where(ArticleRecord.language == DEFAULT, ArticleRedirect.old_slug == slug)
        )
    if found is None:
        raise ArticleError(f"{source}: translation_of names no English article ({slug})")
    return found


def import_path(path: Path, by: User | None = None) -> list[tuple[ArticleRecord, str]]:
    """A file, or a folder's files (English, then its es/ folder's)."""
    files = article_files(path) if path.is_dir() else [path]
    if not files:
        raise ArticleError(f"{path}: no .md files")
    return [import_file(f, by) for f in files]


def seed_if_empty() -> int:
    """A database with no articles at all takes in the bundled files: a fresh clone (or a
    new deploy) shows the physiatrist article with no manual step. Two workers racing here
    are fine: the slug is unique, and the loser's attempt rolls back."""
    if db.session.scalar(select(func.count()).select_from(ArticleRecord)):
        return 0
    try:
        with atomic():
            imported = import_path(ARTICLES_DIR)
    except IntegrityError:
        return 0
    log.info("Imported %d bundled article(s) into an empty database", len(imported))
    return len(imported)


def export_article(article: ArticleRecord) -> str:
    """The article as a Markdown file: its newest revision, with its state."""
    revision = article.head
    assert revision is not None
    zone = clinic_zone()
    first = (article.first_published_at or revision.created_at).astimezone(zone).date()
    latest = (article.publish_at or revision.created_at).astimezone(zone).date()
    meta: dict[str, object] = {}
    if article.language != DEFAULT:
        meta["language"] = article.language
        if article.translation_of is not None:
            meta["translation_of"] = article.translation_of.slug
    meta |= {
        "title": revision.title,
        "description": revision.description,
        "published": first,
        "updated": latest,
        "reviewer": revision.reviewer or "",
        "reviewed": revision.reviewed_on,
        "summary": revision.summary,
        "state": str(editorial.state_of(article, utcnow())),
    }
    if revision.faq:
        meta["faq"] = [{"q": i["q"], "a": i["a"]} for i in revision.faq]
    if revision.related:
        meta["related"] = list(revision.related)
    front = yaml.safe_dump(
        {k: v for k, v in meta.items() if v not in (None, "")},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return f"---\n{front}---\n\n{revision.body.strip()}\n"


def export_all(directory: Path) -> list[Path]:
    """Every article to `directory`/<slug>.md, a translation to `directory`/es/<slug>.md."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    query = select(ArticleRecord).order_by(ArticleRecord.language, ArticleRecord.slug)
    for article in db.session.scalars(query):
        folder = directory if article.language == DEFAULT else directory / article.language
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{article.slug}.md"
        target.write_text(export_article(article), encoding="utf-8")
        written.append(target)
    return written
