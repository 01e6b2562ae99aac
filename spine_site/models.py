"""Typed SQLAlchemy models. Passive: rules live in the domain modules (intake, casework,
privacy, outbox, users ...); see docs/architecture.md."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .clock import utcnow
from .columns import UTCDateTime
from .columns import enum_column as _enum
from .extensions import db

# What belongs to a lead or a person is deleted with it, by the schema: every foreign key to a
# lead or a person is ON DELETE CASCADE. With passive_deletes the ORM leaves that to the
# database instead of loading each child first; a child already loaded is deleted with it.
OWNED = "save-update, merge, delete"


class FormKind(enum.StrEnum):
    APPOINTMENT = "appointment"
    GUIDE = "guide"


class LeadStatus(enum.StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    SCHEDULED = "scheduled"
    CLOSED = "closed"
    NOT_A_FIT = "not_a_fit"


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class EmailKind(enum.StrEnum):
    APPOINTMENT_CONFIRMATION = "appointment_confirmation"
    STAFF_NOTIFICATION = "staff_notification"
    GUIDE = "guide"


PG_TRIGRAM_INDEX = "ix_lead_search_text_trgm"
SQLITE_SEARCH_INDEX = "ix_lead_search_in_order"
# The indexes one database has and the other has not: the database that has each.
DIALECT_INDEXES = {PG_TRIGRAM_INDEX: "postgresql", SQLITE_SEARCH_INDEX: "sqlite"}


def in_schema_of(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for this database: the other database's indexes left out
    (migrations/env.py and tests/test_migrations.py compare the schema through it)."""

    def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return not (type_ == "index" and DIALECT_INDEXES.get(name or "", dialect) != dialect)

    return include_object


class Person(db.Model):
    """One patient, known by normalised email; links their submissions over time."""

    __tablename__ = "person"
    # Never reuse an id: unsubscribe links name the person by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    leads: Mapped[list[Lead]] = relationship(
        back_populates="person", order_by="Lead.id", cascade=OWNED, passive_deletes=True
    )


class Lead(db.Model):
    """One form submission: an appointment request or a guide request."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_created_at", "created_at"),
        Index("ix_lead_status_created", "status", "created_at"),
        # The list's counts per status, spam hidden or shown, from the index alone.
        Index("ix_lead_spam_status", "is_spam", "status"),
        # The intake queue: "needs first contact" (new, never tried, oldest first) and the
        # follow-ups due, each read from an index in order, at any size.
        Index(
            "ix_lead_first_contact", "is_spam", "form", "status", "first_attempt_at", "created_at"
        ),
        # Covering: the views' counts read these indexes alone, not 100,000 rows.
        Index("ix_lead_follow_up", "is_spam", "next_follow_up_at", "status", "first_attempt_at"),
        Index("ix_lead_owner", "owner_id", "is_spam", "status", "created_at"),
        # The staff search's ILIKE, from a trigram index (PostgreSQL).
        Index(
            PG_TRIGRAM_INDEX,
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        # SQLite's search LIKE reads search_text here rather than from the wide rows: in the
        # list's order (newest first, then id), so a page stops once it has its rows, and
        # with the status, so the capped counts read this index alone.
        Index(SQLITE_SEARCH_INDEX, "is_spam", "created_at", "id", "search_text", "status").ddl_if(
            dialect="sqlite"
        ),
        # Never reuse an id: guide links name the lead by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    form: Mapped[FormKind] = mapped_column(_enum(FormKind))
    status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus), default=LeadStatus.NEW)
    # The per-render form token: unique, so a double click or a resend makes one lead.
    submission_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    contact_method: Mapped[str | None] = mapped_column(String(20))
    best_time: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)

    # Consent: whether it was given, to which wording (versioned), and when.
    consent_contact: Mapped[bool] = mapped_column(default=False)
    consent_version: Mapped[str | None] = mapped_column(String(40))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    marketing_opt_in: Mapped[bool] = mapped_column(default=False)
    marketing_consent_version: Mapped[str | None] = mapped_column(String(40))
    # Double opt-in: the ticked box asks; the emailed confirmation link, clicked, confirms.
    marketing_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Quarantine: suspected spam is stored, never emailed, and shown to staff apart.
    is_spam: Mapped[bool] = mapped_column(default=False)
    spam_reason: Mapped[str | None] = mapped_column(String(40))

    # Attribution: the visit's landing page, campaign tags and referrer; where the form was.
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    referrer: Mapped[str | None] = mapped_column(String(500))
    landing_page: Mapped[str | None] = mapped_column(String(500))
    source_page: Mapped[str | None] = mapped_column(String(500))
    placement: Mapped[str | None] = mapped_column(String(20))

    # Intake: who owns the request, when it was first tried and first reached, how many tries
    # since it was last reached (the cadence's step), and when to try next.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unreached_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Lower-cased names, email and phone digits in one column: the staff search scans one
    # short column instead of four.
    search_text: Mapped[str] = mapped_column(String(600), default="", server_default="")

    person: Mapped[Person] = relationship(back_populates="leads")
    emails: Mapped[list[OutboxEmail]] = relationship(
        back_populates="lead", order_by="OutboxEmail.id", cascade=OWNED, passive_deletes=True
    )
    downloads: Mapped[list[GuideDownload]] = relationship(
        back_populates="lead", order_by="GuideDownload.id", cascade=OWNED, passive_deletes=True
    )
    notes: Mapped[list[Note]] = relationship(
        order_by="Note.id", cascade=OWNED, passive_deletes=True
    )
    attempts: Mapped[list[ContactAttempt]] = relationship(
        order_by="ContactAttempt.id", cascade=OWNED, passive_deletes=True
    )
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    status_changes: Mapped[list[LeadStatusChange]] = relationship(
        order_by="LeadStatusChange.id", cascade=OWNED, passive_deletes=True
    )

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class OutboxEmail(db.Model):
    """An email written in the same transaction as its lead, delivered later by a sender."""

    __tablename__ = "outbox_email"
    __table_args__ = (Index("ix_outbox_email_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EmailKind] = mapped_column(_enum(EmailKind))
    status: Mapped[EmailStatus] = mapped_column(_enum(EmailStatus), default=EmailStatus.QUEUED)
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lead: Mapped[Lead | None] = relationship(back_populates="emails")


class GuideDownload(db.Model):
    """One download of the guide through an emailed link."""

    __tablename__ = "guide_download"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    downloaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="downloads")


class Suppression(db.Model):
    """An opt-out from marketing email, keyed by a hash of the email so it outlives erasure."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PageViewDay(db.Model):
    """Views of one public page on one day (the clinic's day): a counter, nothing else.

    No cookie, no address, no visitor: a row says only that a page was shown so many times.
    Web processes count in memory and add their counts here every few seconds
    (analytics.ViewCounter), so a page view costs no write of its own.
    """

    __tablename__ = "page_view_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


# The staff side lives in staff_models.py; its names are here too, so `from .models import`
# works for every model.
from .staff_models import (  # noqa: E402
    AttemptChannel,
    AttemptOutcome,
    AuditEvent,
    ContactAttempt,
    LeadStatusChange,
    Note,
    NoteDraft,
    Passkey,
    RecoveryCode,
    Role,
    StaffSession,
    User,
)

__all__ = [
    "ArticleImage",
    "ArticleImageFile",
    "ArticleRecord",
    "ArticleRedirect",
    "ArticleRevision",
    "AttemptChannel",
    "AttemptOutcome",
    "AuditEvent",
    "ContactAttempt",
    "EmailKind",
    "EmailStatus",
    "FormKind",
    "GuideDownload",
    "Lead",
    "LeadStatus",
    "LeadStatusChange",
    "Note",
    "NoteDraft",
    "OutboxEmail",
    "PageViewDay",
    "Passkey",
    "Person",
    "RecoveryCode",
    "Role",
    "StaffSession",
    "Suppression",
    "UTCDateTime",
    "User",
    "Workflow",
]
# Articles as editors keep them (article_models.py).
from .article_models import (  # noqa: E402
    ArticleImage,
    ArticleImageFile,
    ArticleRecord,
    ArticleRedirect,
    ArticleRevision,
    Workflow,
)
