"""The schema: every table as a typed SQLAlchemy model, in one module so that each foreign
key and its ON DELETE rule sit beside the table they point at.

Passive: rules live in the domain packages (leads, desk, accounts, articles, mail, privacy).
Every foreign key to a lead or a person is ON DELETE CASCADE, so deleting either removes
all that hangs off it; a new table that points at them must say the same (its migration
too), and tests/test_erasure_and_retention.py finds it from this metadata.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from spine_site.clock import utcnow
from spine_site.extensions import db


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(kind: type[enum.Enum], name: str | None = None) -> db.Enum:
    # Store the readable value, as VARCHAR with a CHECK, so SQLite and PostgreSQL agree and a
    # new member needs no ALTER TYPE.
    return db.Enum(
        kind,
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        length=32,
        validate_strings=True,
        create_constraint=True,
        # The name becomes the CHECK constraint's; two columns of one table need two names.
        name=name or kind.__name__.lower(),
    )


# -- What patients submit, and the mail it brings


def _owned(order_by: str, **options: object) -> Any:
    """The children of a lead or a person, deleted with it. With passive_deletes the ORM
    leaves that to the database (ON DELETE CASCADE) instead of loading each child first; a
    child already loaded is deleted with it."""
    return relationship(
        order_by=order_by, cascade="save-update, merge, delete", passive_deletes=True, **options
    )


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

    leads: Mapped[list[Lead]] = _owned("Lead.id", back_populates="person")


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
    form: Mapped[FormKind] = mapped_column(enum_column(FormKind))
    status: Mapped[LeadStatus] = mapped_column(enum_column(LeadStatus), default=LeadStatus.NEW)
    # The per-render form token: unique, so a double click or a resend makes one lead.
    submission_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    # Digits dialled after `phone` connects ("4" of "312-555-0123 ext. 4"); E.164 has no room
    # for them. As wide as intake.EXTENSION_MAX_DIGITS.
    phone_extension: Mapped[str | None] = mapped_column(String(8))
    contact_method: Mapped[str | None] = mapped_column(String(20))
    best_time: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)

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

    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    referrer: Mapped[str | None] = mapped_column(String(500))
    landing_page: Mapped[str | None] = mapped_column(String(500))
    source_page: Mapped[str | None] = mapped_column(String(500))
    placement: Mapped[str | None] = mapped_column(String(20))

    # Intake; unreached_attempts counts the tries since the patient was last reached.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unreached_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Lower-cased names, email and phone digits: the staff search scans this one column.
    search_text: Mapped[str] = mapped_column(String(600), default="", server_default="")

    # The language of the pages the patient used: every email and page that follows is in it.
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")

    person: Mapped[Person] = relationship(back_populates="leads")
    emails: Mapped[list[OutboxEmail]] = _owned("OutboxEmail.id", back_populates="lead")
    downloads: Mapped[list[GuideDownload]] = _owned("GuideDownload.id", back_populates="lead")
    notes: Mapped[list[Note]] = _owned("Note.id")
    attempts: Mapped[list[ContactAttempt]] = _owned("ContactAttempt.id")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    status_changes: Mapped[list[LeadStatusChange]] = _owned("LeadStatusChange.id")

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
    kind: Mapped[EmailKind] = mapped_column(enum_column(EmailKind))
    status: Mapped[EmailStatus] = mapped_column(
        enum_column(EmailStatus), default=EmailStatus.QUEUED
    )
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
    """Views of one public page on one clinic day: a counter, nothing else (no cookie, no
    address, no visitor). Web processes add their counts in batches (analytics.pageviews)."""

    __tablename__ = "page_view_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


# -- Staff: accounts, sign-in, casework and the audit log


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    MARKETING = "marketing"
    # Writes and publishes articles; sees no leads.
    EDITOR = "editor"


class User(db.Model):
    """A staff account. No account exists until an admin creates one."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the account's password, factors or access last changed: a sign-in begun before it is
    # void, and wrong codes before it no longer count.
    failures_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The authenticator app's shared secret, encrypted with a key derived from SECRET_KEY
    # (mfa.py); the last 30-second step accepted, so a code works once.
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    passkeys: Mapped[list[Passkey]] = relationship(order_by="Passkey.id")

    # Set for the request by signin.load_user: this session's key and its second step.
    session_key: str = ""
    session_factor: str = ""

    # Flask-Login's interface.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_key}"


class StaffSession(db.Model):
    """One signed-in browser. Sign-out deletes the row, so its cookie opens nothing after."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # SHA-256 of the random key the cookie holds: a copy of this table opens no session.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # How the second step was passed: totp, passkey, recovery, enrolment or none (development).
    second_factor: Mapped[str] = mapped_column(String(20))


class Passkey(db.Model):
    """A WebAuthn credential registered to a staff account. Nothing here is secret."""

    __tablename__ = "passkey"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebAuthnChallenge(db.Model):
    """A passkey challenge sent to one account's browser and not yet answered: answering
    deletes the row (passkeys.spend_challenge), so an answer counts once."""

    __tablename__ = "webauthn_challenge"

    # SHA-256 of the challenge (the browser's cookie holds the challenge itself).
    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    # What it may answer: "login" (the second step) or "register" (adding a passkey).
    purpose: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RecoveryCode(db.Model):
    """One of ten one-time codes, kept as SHA-256 of an 80-bit random code."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoteDraft(db.Model):
    """A note a timeout kept from being saved, held on the server for its author only, and
    shown once on the lead's page."""

    __tablename__ = "note_draft"
    __table_args__ = (Index("ix_note_draft_user_lead", "user_id", "lead_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LeadStatusChange(db.Model):
    """One step of a lead's status workflow: who moved it, from what, to what, when."""

    __tablename__ = "lead_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    from_status: Mapped[LeadStatus] = mapped_column(enum_column(LeadStatus, "from_status"))
    to_status: Mapped[LeadStatus] = mapped_column(enum_column(LeadStatus, "to_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()


class AttemptChannel(enum.StrEnum):
    CALL = "call"
    TEXT = "text"
    EMAIL = "email"


class AttemptOutcome(enum.StrEnum):
    REACHED = "reached"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    SENT = "sent"


class ContactAttempt(db.Model):
    """One try to reach the patient: how, what came of it, who, when. Append-only."""

    __tablename__ = "contact_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    channel: Mapped[AttemptChannel] = mapped_column(enum_column(AttemptChannel))
    outcome: Mapped[AttemptOutcome] = mapped_column(enum_column(AttemptOutcome))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()


class Note(db.Model):
    """A staff note on a lead. Append-only: there is no edit or delete, except erasure."""

    __tablename__ = "lead_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship()


class AuditEvent(db.Model):
    """Who did what, when, from where. Names IDs, never a patient's details."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_action_created", "action", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # The account email as typed, kept for failed logins (where there may be no user).
    actor: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User | None] = relationship()


# -- Articles as editors keep them


class Workflow(enum.StrEnum):
    """Where the newest revision stands: being written, or waiting for its medical review."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"


class ArticleRecord(db.Model):
    """One article. Readers see `live` once `publish_at` has passed, unless it has been
    unpublished; editors work on `head`, the newest revision. The state the staff list shows
    (draft, in review, scheduled, published, unpublished) follows from these (editorial.py)."""

    __tablename__ = "article"
    __table_args__ = (
        # An address is unique within its language: /articles/x and /es/articles/x may both be.
        UniqueConstraint("language", "slug", name="uq_article_language_slug"),
        # One translation per language of an article.
        UniqueConstraint("translation_of_id", "language", name="uq_article_translation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "en", or the language of a translation ("es"): its pages live under /es/.
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    # The English article this one translates; a translation has its own revisions and its
    # own medical review. Deleting the original leaves the translation standing alone.
    translation_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("article.id", ondelete="SET NULL"), index=True
    )
    # The address: the live revision's slug once published, the head's before that. Earlier
    # public addresses are in article_redirect.
    slug: Mapped[str] = mapped_column(String(120))
    workflow: Mapped[Workflow] = mapped_column(enum_column(Workflow))
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
    # follows the newest of these (articles/live.py).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    head: Mapped[ArticleRevision | None] = relationship(foreign_keys=[head_id], post_update=True)
    live: Mapped[ArticleRevision | None] = relationship(foreign_keys=[live_id], post_update=True)
    translation_of: Mapped[ArticleRecord | None] = relationship(
        remote_side=[id], back_populates="translations"
    )
    translations: Mapped[list[ArticleRecord]] = relationship(
        back_populates="translation_of", passive_deletes=True
    )


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
