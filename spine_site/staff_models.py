"""Staff-side models: accounts and their sign-in factors and sessions, casework records
(status changes, notes, drafts, contact attempts) and the audit log. Passive, as models.py."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .clock import utcnow
from .columns import UTCDateTime
from .columns import enum_column as _enum
from .extensions import db
from .models import LeadStatus


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
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LeadStatusChange(db.Model):
    """One step of a lead's status workflow: who moved it, from what, to what, when."""

    __tablename__ = "lead_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    from_status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus, "from_status"))
    to_status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus, "to_status"))
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
    channel: Mapped[AttemptChannel] = mapped_column(_enum(AttemptChannel))
    outcome: Mapped[AttemptOutcome] = mapped_column(_enum(AttemptOutcome))
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
