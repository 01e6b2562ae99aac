"""Typed SQLAlchemy models. Passive: rules live in the domain modules (intake, casework,
privacy, outbox, users ...); see docs/architecture.md."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .clock import utcnow
from .extensions import db


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


def _enum(kind: type[enum.Enum], name: str | None = None) -> db.Enum:
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


class Person(db.Model):
    """One patient, known by normalised email; links their submissions over time."""

    __tablename__ = "person"
    # Never reuse an id: unsubscribe links name the person by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    leads: Mapped[list[Lead]] = relationship(back_populates="person", order_by="Lead.id")


class Lead(db.Model):
    """One form submission: an appointment request or a guide request."""

    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_created_at", "created_at"),
        Index("ix_lead_status_created", "status", "created_at"),
        # The list's counts per status, spam hidden or shown, from the index alone.
        Index("ix_lead_spam_status", "is_spam", "status"),
        # Never reuse an id: guide links name the lead by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
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

    # Lower-cased names, email and phone digits in one column: the staff search scans one
    # short column instead of four.
    search_text: Mapped[str] = mapped_column(String(600), default="", server_default="")

    person: Mapped[Person] = relationship(back_populates="leads")
    emails: Mapped[list[OutboxEmail]] = relationship(
        back_populates="lead", order_by="OutboxEmail.id"
    )
    downloads: Mapped[list[GuideDownload]] = relationship(
        back_populates="lead", order_by="GuideDownload.id"
    )
    notes: Mapped[list[Note]] = relationship(order_by="Note.id")
    status_changes: Mapped[list[LeadStatusChange]] = relationship(order_by="LeadStatusChange.id")

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class OutboxEmail(db.Model):
    """An email written in the same transaction as its lead, delivered later by a sender."""

    __tablename__ = "outbox_email"
    __table_args__ = (Index("ix_outbox_email_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"), index=True)
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
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    downloaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="downloads")


class Suppression(db.Model):
    """An opt-out from marketing email, keyed by a hash of the email so it outlives erasure."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- Staff side ----------------------------------------------------------------------------


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    MARKETING = "marketing"


class User(db.Model):
    """A staff account. No account exists until an admin creates one."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the account's password, factors or access last changed (set password, factor reset,
    # disable/enable): a sign-in begun before it is void, and wrong codes before it no longer
    # count.
    failures_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The authenticator app's shared secret, encrypted with a key derived from SECRET_KEY
    # (mfa.py); the last 30-second step accepted, so a code works once.
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    passkeys: Mapped[list[Passkey]] = relationship(order_by="Passkey.id")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(order_by="RecoveryCode.id")

    # Set for the request by signin.load_user: which signed-in session this is, and how its
    # second step was passed.
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
    # How the second step was passed: "totp", "passkey", "recovery", or "none" (development,
    # no factor yet).
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


class RecoveryCode(db.Model):
    """One of ten one-time codes, kept as SHA-256 of an 80-bit random code."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoteDraft(db.Model):
    """A note a timeout kept from being saved, held on the server for its author only.

    Shown once on the lead's page, then deleted; erasure and retention delete it with the lead.
    """

    __tablename__ = "note_draft"
    __table_args__ = (Index("ix_note_draft_user_lead", "user_id", "lead_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LeadStatusChange(db.Model):
    """One step of a lead's status workflow: who moved it, from what, to what, when."""

    __tablename__ = "lead_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    from_status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus, "from_status"))
    to_status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus, "to_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()


class Note(db.Model):
    """A staff note on a lead. Append-only: there is no edit or delete, except erasure."""

    __tablename__ = "lead_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
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
