"""Articles as editors keep them: an article, its revisions (every save), the old addresses
that redirect to it, and the images uploaded for articles. Passive, as models.py."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .clock import utcnow
from .columns import UTCDateTime
from .columns import enum_column as _enum
from .extensions import db
from .staff_models import User


class Workflow(enum.StrEnum):
    """Where the newest revision stands: being written, or waiting for its medical review."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"


class ArticleRecord(db.Model):
    """One article. Readers see `live` once `publish_at` has passed, unless it has been
    unpublished; editors work on `head`, the newest revision. The state the staff list shows
    (draft, in review, scheduled, published, unpublished) follows from these (editorial.py)."""

    __tablename__ = "article"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The address: the live revision's slug once published, the head's before that. Earlier
    # public addresses are in article_redirect.
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    workflow: Mapped[Workflow] = mapped_column(_enum(Workflow))
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_revision.id", use_alter=True, name="fk_article_head")
    )
    live_id: Mapped[int | None] = mapped_column(
        ForeignKey("article_revision.id", use_alter=True, name="fk_article_live")
    )
    # When the live revision goes (or went) public: readers see it as "Updated" (a scheduled
    # article has it in the future); the first one is "Published".
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Any change readers or editors can see; every worker's copy of the public articles
    # follows the newest of these (articles_live.py).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    head: Mapped[ArticleRevision | None] = relationship(foreign_keys=[head_id], post_update=True)
    live: Mapped[ArticleRevision | None] = relationship(foreign_keys=[live_id], post_update=True)


class ArticleRevision(db.Model):
    """One saved version of an article: never changed after it is written."""

    __tablename__ = "article_revision"
    __table_args__ = (UniqueConstraint("article_id", "number", name="uq_revision_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(400))
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # [{"q": ..., "a": ...}], Markdown answers, as in the files' front matter.
    faq: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    related: Mapped[list[str]] = mapped_column(JSON, default=list)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_on: Mapped[date | None] = mapped_column(Date)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    # "import", "restore of 3", or the editor's own words.
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship()


class ArticleRedirect(db.Model):
    """An address an article had before its slug changed: answers 301 to the current one."""

    __tablename__ = "article_redirect"

    old_slug: Mapped[str] = mapped_column(String(120), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), index=True)


class ArticleImage(db.Model):
    """An uploaded image; its cleaned, resized files are ArticleImageFile rows, so every host
    of the site serves them without shared disks."""

    __tablename__ = "article_image"
    __table_args__ = (Index("ix_article_image_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # First 16 hex digits of the SHA-256 of the cleaned pixels: the files' name stem.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    alt: Mapped[str] = mapped_column(String(300))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # jpeg, png or webp: the fallback format the <img> uses.
    original_format: Mapped[str] = mapped_column(String(10))
    # The widths made, e.g. [480, 960, 1600], and the extra formats, e.g. ["webp", "avif"].
    widths: Mapped[list[int]] = mapped_column(JSON, default=list)
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArticleImageFile(db.Model):
    """One file made from an uploaded image (a width in a format), served at /media/<name>
    under a name that changes with its content, so it can be cached for good."""

    __tablename__ = "article_image_file"

    # e.g. 3f2a9c0d1b7e4a55-960.webp
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("article_image.id"), index=True)
    mimetype: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
