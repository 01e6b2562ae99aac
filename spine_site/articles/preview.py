"""An article as readers would see it, from any revision: what the staff preview renders,
and (from the live revision) what articles/live.py publishes. The dates a revision does not
have yet (first published, updated) are today's, as they would be if it were published now.
"""

from __future__ import annotations

from spine_site.articles.render import Article, ArticleSource, render_article
from spine_site.clock import clinic_zone, utcnow
from spine_site.models import ArticleRecord, ArticleRevision


def source_of(record: ArticleRecord, revision: ArticleRevision) -> ArticleSource:
    """The Markdown source of this revision, dated as the public page would date it."""
    zone = clinic_zone()
    today = utcnow().astimezone(zone).date()
    first = record.first_published_at
    shown_live = record.live_id == revision.id and record.publish_at is not None
    updated = record.publish_at.astimezone(zone).date() if shown_live else today
    return ArticleSource(
        slug=revision.slug,
        title=revision.title,
        description=revision.description,
        summary=revision.summary,
        body=revision.body,
        faq=list(revision.faq or []),
        related=list(revision.related or []),
        reviewer=revision.reviewer or "",
        # No review date yet: the preview says so rather than inventing one.
        reviewed=revision.reviewed_on,
        published=first.astimezone(zone).date() if first else today,
        updated=updated,
        language=record.language,
        translation_of=record.translation_of.slug if record.translation_of else None,
    )


def preview_of(record: ArticleRecord, revision: ArticleRevision) -> Article:
    """The rendered, sanitised article of this revision (never cached, never public)."""
    return render_article(source_of(record, revision))
