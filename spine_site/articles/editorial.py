"""What editors do to articles: write (every save a revision), submit for review, publish now
or at a set time, unpublish, restore an old revision. Each step is checked, audited where it
changes what readers see; the functions flush only, in the caller's transaction (one step
of article_desk, or a whole import).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import date, datetime

from sqlalchemy import func, select

from spine_site.accounts import audit
from spine_site.articles.render import SLUG
from spine_site.clock import clinic_zone, utcnow
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRedirect, ArticleRevision, User, Workflow
from spine_site.web.i18n import DEFAULT, LANGUAGES

# Addresses the site itself uses under /articles/ could never be an article's.
_RESERVED_SLUGS = {"new", "feed", "index"}


class State(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in review"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


class EditorialError(ValueError):
    """A step that cannot be taken now; the message says why, in plain words."""


@dataclass
class Draft:
    """An article's content as an editor writes it: one revision's worth."""

    title: str = ""
    slug: str = ""
    description: str = ""
    summary: str = ""
    body: str = ""
    faq: list[dict[str, str]] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    reviewer: str = ""
    reviewed_on: date | None = None

    @classmethod
    def of(cls, revision: ArticleRevision) -> Draft:
        values = {f.name: getattr(revision, f.name) for f in fields(cls)}
        values["faq"] = [dict(item) for item in revision.faq or []]
        values["related"] = list(revision.related or [])
        values["reviewer"] = revision.reviewer or ""
        return cls(**values)

    def same_as(self, revision: ArticleRevision) -> bool:
        return self == Draft.of(revision)


def problems(
    draft: Draft, article: ArticleRecord | None = None, language: str = DEFAULT
) -> dict[str, str]:
    """What must be fixed before the draft can be saved, by field, in plain words. A new
    article is checked in `language`; an existing one in its own."""
    found: dict[str, str] = {}
    for name, limit in (("title", 200), ("description", 400)):
        value = getattr(draft, name).strip()
        if not value:
            found[name] = f"Enter the {name}."
        elif len(value) > limit:
            found[name] = f"Keep the {name} under {limit} characters."
    if not draft.body.strip():
        found["body"] = "Write the article's text."
    if not SLUG.match(draft.slug) or len(draft.slug) > 120:
        found["slug"] = (
            "Use lowercase letters, digits and single hyphens, like what-is-a-physiatrist."
        )
    elif draft.slug in _RESERVED_SLUGS or slug_taken(
        draft.slug, article, article.language if article is not None else language
    ):
        found["slug"] = "Another article uses this address; choose another."
    for item in draft.faq:
        if not item.get("q", "").strip() or not item.get("a", "").strip():
            found["faq"] = "Each question needs an answer (and each answer a question)."
    if draft.reviewer and len(draft.reviewer) > 200:
        found["reviewer"] = "Keep the reviewer's name under 200 characters."
    return found


def slug_taken(slug: str, article: ArticleRecord | None, language: str = DEFAULT) -> bool:
    """Whether another article of this language has this address now or had it before (its
    old links must keep going to it). Each language has its own addresses: a Spanish
    article may keep its English article's slug."""
    own = article.id if article is not None else -1
    other = db.session.scalar(
        select(ArticleRecord.id).where(
            ArticleRecord.slug == slug, ArticleRecord.language == language, ArticleRecord.id != own
        )
    )
    moved = db.session.scalar(
        select(ArticleRedirect.article_id)
        .join(ArticleRecord, ArticleRecord.id == ArticleRedirect.article_id)
        .where(
            ArticleRedirect.old_slug == slug,
            ArticleRedirect.article_id != own,
            ArticleRecord.language == language,
        )
    )
    return other is not None or moved is not None


def state_of(article: ArticleRecord, now: datetime | None = None) -> State:
    now = now or utcnow()
    if article.live_id is None:
        return State.IN_REVIEW if article.workflow is Workflow.IN_REVIEW else State.DRAFT
    if article.unpublished_at is not None:
        return State.UNPUBLISHED
    if article.publish_at is not None and article.publish_at > now:
        return State.SCHEDULED
    return State.PUBLISHED


def has_unpublished_changes(article: ArticleRecord) -> bool:
    return article.live_id is not None and article.head_id != article.live_id


def _new_revision(
    article: ArticleRecord, draft: Draft, by: User | None, note: str | None
) -> ArticleRevision:
    number = (
        db.session.scalar(
            select(func.max(ArticleRevision.number)).where(ArticleRevision.article_id == article.id)
        )
        or 0
    ) + 1
    values = {f.name: getattr(draft, f.name) for f in fields(Draft)}
    values["reviewer"] = draft.reviewer.strip() or None
    revision = ArticleRevision(article_id=article.id, number=number, author=by, note=note, **values)
    db.session.add(revision)
    db.session.flush()
    article.head = revision
    article.updated_at = utcnow()
    if article.live_id is None:
        article.slug = draft.slug
    return revision


def create(
    draft: Draft,
    by: User | None,
    note: str | None = None,
    translation_of: ArticleRecord | None = None,
    language: str = DEFAULT,
) -> ArticleRecord:
    """A new article, as a draft (revision 1): in English, or in `language` as the
    translation of the English article `translation_of` (its own slug, revisions and
    medical review; one translation per language)."""
    if translation_of is not None:
        translation_problem(translation_of, language)
    found = problems(draft, language=language)
    if found:
        raise EditorialError(" ".join(found.values()))
    article = ArticleRecord(
        slug=draft.slug, workflow=Workflow.DRAFT, language=language, translation_of=translation_of
    )
    db.session.add(article)
    db.session.flush()
    _new_revision(article, draft, by, note)
    audit.record("article_create", user=by, target=f"article:{article.id}")
    return article


def translation_problem(original: ArticleRecord, language: str) -> None:
    """Raise EditorialError unless `original` may have a new translation into `language`."""
    if language not in LANGUAGES or language == DEFAULT:
        raise EditorialError("Translations are into Spanish.")
    if original.language != DEFAULT:
        raise EditorialError("Only an English article can have translations.")
    if translation(original, language) is not None:
        raise EditorialError(f"This article already has a {LANGUAGES[language]} translation.")


def translation(original: ArticleRecord, language: str) -> ArticleRecord | None:
    return next((t for t in original.translations if t.language == language), None)


def save(
    article: ArticleRecord, draft: Draft, by: User | None, note: str | None = None
) -> ArticleRevision | None:
    """Save the editor's text as a new revision; None when nothing changed (no empty
    revisions). Readers see nothing of it until it is published."""
    found = problems(draft, article)
    if found:
        raise EditorialError(" ".join(found.values()))
    if article.head is not None and draft.same_as(article.head):
        return None
    return _new_revision(article, draft, by, note)


def submit_for_review(article: ArticleRecord, by: User) -> None:
    if article.workflow is Workflow.IN_REVIEW:
        raise EditorialError("This article is already waiting for review.")
    if article.live_id is not None and not has_unpublished_changes(article):
        raise EditorialError("Nothing to review: the published version is the newest.")
    article.workflow = Workflow.IN_REVIEW
    article.updated_at = utcnow()
    audit.record("article_submit", user=by, target=f"article:{article.id}")


def review_missing(revision: ArticleRevision) -> str | None:
    """Why this revision may not be published yet, or None."""
    if not revision.reviewer or revision.reviewed_on is None:
        return (
            "Add the medical reviewer's name and the review date before publishing: "
            "every health article names who checked it and when."
        )
    return None


def publish(article: ArticleRecord, by: User, at: datetime | None = None) -> None:
    """Make the newest revision the one readers see: now, or at `at` (scheduled)."""
    head = article.head
    if head is None:
        raise EditorialError("There is nothing to publish yet.")
    reason = review_missing(head)
    if reason:
        raise EditorialError(reason)
    now = utcnow()
    if at is not None and at <= now:
        at = None  # a time already past means now
    previous_slug = article.slug if article.live_id is not None else None
    article.live = head
    article.publish_at = at or now
    article.first_published_at = article.first_published_at or article.publish_at
    article.unpublished_at = None
    article.workflow = Workflow.DRAFT
    article.updated_at = now
    move_address(article, previous_slug, head.slug)
    audit.record(
        "article_schedule" if at else "article_publish",
        user=by,
        target=f"article:{article.id}",
        detail={"revision": head.number, "slug": head.slug}
        | ({"at": at.isoformat(timespec="minutes")} if at else {}),
    )


def move_address(article: ArticleRecord, old: str | None, new: str) -> None:
    """A published article that changes its slug leaves a 301 at the old address. An old
    slug is kept once, for the first article that left it (article_redirect's key); the
    public side sends it on in each language to that article or its translation (live.py)."""
    if old is not None and old != new:
        held = db.session.get(ArticleRedirect, old)
        if held is None:
            db.session.add(ArticleRedirect(old_slug=old, article_id=article.id))
        elif held.article_id != article.id and _language_of(held.article_id) == article.language:
            held.article_id = article.id  # (slug_taken keeps this from happening)
    # Taking an address back removes its redirect (one of this article's own).
    reclaimed = db.session.get(ArticleRedirect, new)
    if reclaimed is not None and reclaimed.article_id == article.id:
        db.session.delete(reclaimed)
    article.slug = new


def _language_of(article_id: int) -> str:
    return db.session.scalar(select(ArticleRecord.language).where(ArticleRecord.id == article_id))


def unpublish(article: ArticleRecord, by: User) -> None:
    """Take the article off the site: its address answers 410 Gone, with other articles."""
    if article.live_id is None or article.unpublished_at is not None:
        raise EditorialError("This article is not published.")
    article.unpublished_at = utcnow()
    article.updated_at = article.unpublished_at
    audit.record("article_unpublish", user=by, target=f"article:{article.id}")


def restore(article: ArticleRecord, revision: ArticleRevision, by: User) -> ArticleRevision:
    """Make an old revision's content the newest draft again (a new revision: history is
    never rewritten). Readers see it only once it is published."""
    if revision.article_id != article.id:
        raise EditorialError("That revision belongs to another article.")
    draft = Draft.of(revision)
    if slug_taken(draft.slug, article, article.language):
        raise EditorialError(
            "Another article now uses that revision's address; change its slug first."
        )
    if article.head is not None and draft.same_as(article.head):
        raise EditorialError("The newest revision already reads like that.")
    restored = _new_revision(article, draft, by, f"restored from revision {revision.number}")
    audit.record(
        "article_restore",
        user=by,
        target=f"article:{article.id}",
        detail={"from": revision.number, "to": restored.number},
    )
    return restored


def needs_update(translation: ArticleRecord) -> bool:
    """Whether a published (or scheduled) translation is behind its English article: the
    English article's latest publish, as a clinic date, is later than the medical review
    date of the translation's live revision (a publish on the review day counts as reviewed)."""
    original = translation.translation_of
    live = translation.live
    if (
        original is None
        or live is None
        or translation.unpublished_at is not None
        or original.live_id is None
        or original.unpublished_at is not None
        or original.publish_at is None
    ):
        return False
    if live.reviewed_on is None:  # (publish refuses this; an old import might not)
        return True
    return original.publish_at.astimezone(clinic_zone()).date() > live.reviewed_on
