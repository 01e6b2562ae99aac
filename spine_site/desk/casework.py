"""Casework: what intake staff do to a lead, and a person's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from spine_site import privacy
from spine_site.accounts import audit
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.leads import emails
from spine_site.mail import outbox
from spine_site.models import (
    EmailKind,
    Lead,
    LeadStatus,
    LeadStatusChange,
    Note,
    NoteDraft,
    OutboxEmail,
    Person,
    User,
)
from spine_site.transaction import atomic


@atomic()
def open_lead(lead: Lead, *, by: User) -> str | None:
    """Record that a person's request was opened (who saw which patient, for the audit), and
    hand back the user's note draft for it, if a timeout kept one."""
    audit.record("lead_view", user=by, target=f"lead:{lead.id}")
    return _take_draft(by, lead.id)


@atomic()
def change_status(lead: Lead, status: LeadStatus, *, seen: LeadStatus, by: User) -> bool:
    """Move a lead from the status the user saw to a new one (move_status), audited; False
    when nothing changed."""
    if seen is status or not move_status(lead, seen, status, by):
        return False
    audit.record(
        "lead_status",
        user=by,
        target=f"lead:{lead.id}",
        detail={"from": seen.value, "to": status.value},
    )
    return True


def move_status(lead: Lead, seen: LeadStatus, status: LeadStatus, by: User) -> bool:
    """Move the lead from `seen` to `status`, with its history row, in the caller's
    transaction; False if someone moved it first (the UPDATE matches only `seen`)."""
    moved = db.session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.status == seen)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        return False
    lead.status = status
    db.session.add(LeadStatusChange(lead_id=lead.id, user=by, from_status=seen, to_status=status))
    return True


@atomic()
def add_note(lead: Lead, body: str, *, by: User) -> Note:
    note = Note(lead_id=lead.id, author=by, body=body.strip())
    db.session.add(note)
    audit.record("lead_note", user=by, target=f"lead:{lead.id}")
    return note


def set_spam(lead: Lead, spam: bool, *, by: User) -> None:
    """Quarantine a lead, or release it: a released lead gets the emails it never had."""
    with atomic():
        if lead.is_spam == spam:
            return
        lead.is_spam = spam
        lead.spam_reason = "staff" if spam else None
        queued = not spam and not lead.emails
        if queued:
            emails.queue_emails(lead)
        audit.record("lead_spam" if spam else "lead_not_spam", user=by, target=f"lead:{lead.id}")
    if queued:
        outbox.wake_sender()


def resend_email(email: OutboxEmail, *, by: User) -> None:
    """Queue a lead's email again; a guide email gets a fresh link, since the old one may
    have expired."""
    with atomic():
        if email.kind is EmailKind.GUIDE and email.lead is not None:
            emails.queue_guide_email(email.lead)
        else:
            outbox.resend(email)
        audit.record("email_resend", user=by, target=f"email:{email.id}")
    outbox.wake_sender()


# A draft is offered back for this long; after that it is dropped unseen.
DRAFT_HOURS = 24


@atomic()
def keep_draft(user: User, lead_id: int, body: str) -> None:
    """Hold a note a timeout kept from being saved, for its author only (one per lead)."""
    if db.session.get(Lead, lead_id) is None:
        return
    draft = db.session.scalar(
        select(NoteDraft).where(NoteDraft.user_id == user.id, NoteDraft.lead_id == lead_id)
    )
    if draft is None:
        db.session.add(NoteDraft(user_id=user.id, lead_id=lead_id, body=body))
    else:
        draft.body, draft.saved_at = body, utcnow()


def _take_draft(user: User, lead_id: int) -> str | None:
    """The author's kept draft for this lead, removed as it is handed back (shown once), with
    their drafts older than DRAFT_HOURS."""
    draft = db.session.scalar(
        select(NoteDraft).where(NoteDraft.user_id == user.id, NoteDraft.lead_id == lead_id)
    )
    oldest = utcnow() - timedelta(hours=DRAFT_HOURS)
    body = draft.body if draft is not None and draft.saved_at > oldest else None
    db.session.execute(
        delete(NoteDraft).where(
            NoteDraft.user_id == user.id,
            (NoteDraft.lead_id == lead_id) | (NoteDraft.saved_at <= oldest),
        )
    )
    return body


@atomic()
def view_person(person: Person, *, by: User) -> None:
    audit.record("person_view", user=by, target=f"person:{person.id}")


def person_name(person: Person) -> str:
    """The name staff know the person by: the full name of their latest request that gave a
    last name (the guide form asks only a first name), else their latest first name; empty
    for a person with no request."""
    named = [lead for lead in person.leads if lead.last_name] or person.leads
    return named[-1].full_name if named else ""


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    # What the person did: request, download (of the guide), newsletter (confirmed further
    # emails), unsubscribe; what was done for them: attempt, note, status, email.
    kind: str
    lead: Lead | None  # None for an unsubscribe: it covers the person, not one request
    item: object  # the Lead, GuideDownload, ContactAttempt, Note, LeadStatusChange or OutboxEmail


def timeline(person: Person) -> list[TimelineEvent]:
    """Everything that happened to one person's requests, newest first."""
    events: list[TimelineEvent] = []
    for lead in person.leads:
        events.append(TimelineEvent(lead.created_at, "request", lead, lead))
        events.extend(TimelineEvent(d.downloaded_at, "download", lead, d) for d in lead.downloads)
        if lead.marketing_confirmed_at is not None:
            events.append(TimelineEvent(lead.marketing_confirmed_at, "newsletter", lead, lead))
        events.extend(TimelineEvent(a.created_at, "attempt", lead, a) for a in lead.attempts)
        events.extend(TimelineEvent(n.created_at, "note", lead, n) for n in lead.notes)
        events.extend(TimelineEvent(c.created_at, "status", lead, c) for c in lead.status_changes)
        events.extend(
            TimelineEvent(e.sent_at or e.created_at, "email", lead, e) for e in lead.emails
        )
    since = privacy.suppressed_since([person.email_normalized]).get(person.email_normalized)
    # The suppression list outlives erasure: an entry older than this person's first request
    # is an earlier, erased record's, which this timeline does not reveal.
    first = min((lead.created_at for lead in person.leads), default=None)
    if since is not None and first is not None and since >= first:
        events.append(TimelineEvent(since, "unsubscribe", None, None))
    return sorted(events, key=lambda e: e.at, reverse=True)
