"""Leads: capture a submission with its emails in one transaction; link people; opt-outs.

No Flask request objects here: views pass plain values in.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from . import audit, outbox, tokens
from .extensions import db
from .models import (
    EmailKind,
    FormKind,
    GuideDownload,
    Lead,
    LeadStatus,
    LeadStatusChange,
    Note,
    OutboxEmail,
    Person,
    Suppression,
    User,
)

log = logging.getLogger(__name__)

# The reasons a patient can pick: the conditions the physiatrist article covers, plus other.
REASONS: list[tuple[str, str]] = [
    ("herniated_disc", "Herniated or bulging disc"),
    ("degenerative_disc", "Degenerative disc disease"),
    ("annular_tear", "Annular tear"),
    ("disc_back_pain", "Disc-related back pain"),
    ("radiculopathy", "Radiculopathy (radiating arm or leg pain)"),
    ("sciatica", "Sciatica"),
    ("neuropathy", "Peripheral neuropathy"),
    ("stenosis", "Spinal stenosis"),
    ("spondylolisthesis", "Spondylolisthesis"),
    ("facet", "Facet joint arthritis"),
    ("failed_surgery", "Pain after back surgery"),
    ("chronic_pain", "Long-lasting (chronic) back or neck pain"),
    ("injury", "Spine pain after an injury"),
    ("other", "Something else"),
]
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
CONTACT_METHODS = [("phone", "Phone call"), ("text", "Text message"), ("email", "Email")]
BEST_TIMES = [("morning", "Morning"), ("afternoon", "Afternoon"), ("evening", "Early evening")]


@dataclass(frozen=True)
class Attribution:
    """Where the visit came from and where the form was; all optional."""

    utm: Mapping[str, str] = field(default_factory=dict)
    referrer: str | None = None
    landing_page: str | None = None
    source_page: str | None = None
    placement: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool  # False when this was a repeat of a submission already stored


def normalize_email(email: str) -> str:
    """The key a person is known by: email-validator's normalised form, lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def _person_for(email: str) -> Person:
    key = normalize_email(email)
    person = db.session.scalar(select(Person).where(Person.email_normalized == key))
    if person is not None:
        return person
    # Two first submissions from one address can race; the unique key decides, and the
    # savepoint lets the loser pick up the winner's row without losing its own transaction.
    try:
        with db.session.begin_nested():
            person = Person(email_normalized=key)
            db.session.add(person)
    except IntegrityError:
        person = db.session.scalar(select(Person).where(Person.email_normalized == key))
        assert person is not None
    return person


# What a patient typed; two posts of one rendered form with these equal are one submission.
SUBMITTED_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "contact_method",
    "best_time",
    "reason",
    "message",
    "consent",
    "opt_in",
)


def submission_key(form_nonce: str, fields: Mapping[str, object]) -> str:
    """The form rendering's nonce plus a digest of the content.

    A double click or a browser resend repeats both, so it finds the stored lead. A patient who
    goes Back, corrects the phone number and sends the same form again gets a new key: the
    correction is a new submission, not silently dropped.
    """
    content = "\x1f".join(f"{name}={fields.get(name) or ''}" for name in SUBMITTED_FIELDS)
    return hashlib.sha256(f"{form_nonce}\x1e{content}".encode()).hexdigest()


def capture(
    form: FormKind,
    fields: Mapping[str, object],
    *,
    form_nonce: str,
    attribution: Attribution,
    spam_reason: str | None = None,
) -> CaptureResult:
    """Store one submission and queue its emails in a single commit.

    `fields` are already validated and normalised (email, E.164 phone). A repeat of a stored
    submission (same rendered form, same content) returns the stored lead: one lead, one set
    of emails.
    """
    submission_token = submission_key(form_nonce, fields)
    existing = db.session.scalar(select(Lead).where(Lead.submission_token == submission_token))
    if existing is not None:
        return CaptureResult(existing, created=False)

    config = current_app.config
    now = datetime.now(UTC)
    email = str(fields["email"])
    lead = Lead(
        form=form,
        submission_token=submission_token,
        person=_person_for(email),
        first_name=str(fields["first_name"]),
        last_name=_opt(fields.get("last_name")),
        email=email,
        phone=_opt(fields.get("phone")),
        contact_method=_opt(fields.get("contact_method")),
        best_time=_opt(fields.get("best_time")),
        reason=_opt(fields.get("reason")),
        message=_opt(fields.get("message")),
        is_spam=spam_reason is not None,
        spam_reason=spam_reason,
        referrer=attribution.referrer,
        landing_page=attribution.landing_page,
        source_page=attribution.source_page,
        placement=attribution.placement,
        created_at=now,
        **{f"utm_{key}": attribution.utm.get(key) for key in UTM_KEYS},
    )
    lead.search_text = search_text(lead)
    if fields.get("consent"):
        lead.consent_contact = True
        lead.consent_version = config["CONSENT_VERSION"]
        lead.consent_at = now
    if fields.get("opt_in"):
        lead.marketing_opt_in = True
        lead.marketing_consent_version = config["MARKETING_CONSENT_VERSION"]
    db.session.add(lead)
    try:
        db.session.flush()
        if not lead.is_spam:
            queue_emails(lead)
        db.session.commit()
    except IntegrityError:
        # The same form token won a race against us: that submission is the lead.
        db.session.rollback()
        existing = db.session.scalar(select(Lead).where(Lead.submission_token == submission_token))
        if existing is None:
            raise
        return CaptureResult(existing, created=False)
    log.info("lead %s stored (%s%s)", lead.id, form.value, ", quarantined" if lead.is_spam else "")
    return CaptureResult(lead, created=True)


def search_text(lead: Lead) -> str:
    """What the staff search looks in: names, email, phone digits, lower-cased."""
    digits = "".join(ch for ch in lead.phone or "" if ch.isdigit())
    return " ".join(p for p in (lead.first_name, lead.last_name, lead.email, digits) if p).lower()


def _opt(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def queue_emails(lead: Lead) -> None:
    """Add the emails a new (non-spam) lead triggers; the caller commits."""
    config = current_app.config
    clinic_name = config["CLINIC_NAME"]
    if lead.form is FormKind.APPOINTMENT:
        outbox.enqueue(
            kind=EmailKind.APPOINTMENT_CONFIRMATION,
            to_addr=lead.email,
            subject=f"We received your appointment request - {clinic_name}",
            template="appointment_confirmation",
            context={"lead": lead},
            lead=lead,
        )
        if config.get("STAFF_NOTIFY_EMAIL"):
            # Only a link: no name, reason or message leaves the system in this email.
            outbox.enqueue(
                kind=EmailKind.STAFF_NOTIFICATION,
                to_addr=config["STAFF_NOTIFY_EMAIL"],
                subject=f"New appointment request #{lead.id}",
                template="staff_notification",
                context={"lead_url": absolute_url(f"/staff/leads/{lead.id}"), "lead_id": lead.id},
                lead=lead,
            )
    else:
        queue_guide_email(lead)


def queue_guide_email(lead: Lead) -> None:
    """Queue the guide email with a fresh signed link; the caller commits."""
    config = current_app.config
    unsubscribe = absolute_url(
        url_for("public.unsubscribe", token=tokens.unsubscribe_token(lead.person_id))
    )
    outbox.enqueue(
        kind=EmailKind.GUIDE,
        to_addr=lead.email,
        subject=f"Your free guide from {config['CLINIC_NAME']}",
        template="guide",
        context={
            "lead": lead,
            "download_url": absolute_url(
                url_for("public.guide_download", token=tokens.guide_token(lead.id))
            ),
            "days": config["GUIDE_LINK_DAYS"],
            "unsubscribe_url": unsubscribe,
        },
        lead=lead,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def absolute_url(path: str) -> str:
    return current_app.config["SITE_URL"] + path


def record_download(lead: Lead) -> None:
    """Note one guide download on its lead."""
    db.session.add(GuideDownload(lead=lead, downloaded_at=datetime.now(UTC)))
    db.session.commit()


GUIDE_RESENDS_PER_DAY = 3


def resend_guide(lead: Lead) -> bool:
    """Send a fresh guide link to the lead's address; False if several went out today.

    The cap stops an old link from being used to fill someone's inbox.
    """
    since = datetime.now(UTC) - timedelta(days=1)
    recent = db.session.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(
            OutboxEmail.lead_id == lead.id,
            OutboxEmail.kind == EmailKind.GUIDE,
            OutboxEmail.created_at > since,
        )
    )
    if recent >= GUIDE_RESENDS_PER_DAY:
        return False
    queue_guide_email(lead)
    db.session.commit()
    return True


def unsubscribe(person: Person) -> None:
    """Stop marketing email to this person, now and after any later erasure."""
    key = email_hash(person.email_normalized)
    if db.session.scalar(select(Suppression).where(Suppression.email_hash == key)) is None:
        try:
            with db.session.begin_nested():
                db.session.add(Suppression(email_hash=key))
        except IntegrityError:
            pass  # a concurrent one-click POST already recorded it
    for lead in person.leads:
        lead.marketing_opt_in = False
    db.session.commit()


def is_suppressed(email: str) -> bool:
    return (
        db.session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash(email)))
        is not None
    )


# -- Staff work on leads ------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFilter:
    """The lead list's filters; the CSV export takes the same ones."""

    form: FormKind | None = None
    status: LeadStatus | None = None
    date_from: date | None = None  # inclusive, in the clinic's time zone
    date_to: date | None = None  # inclusive, in the clinic's time zone
    spam: str = "exclude"  # exclude | only | include
    q: str = ""

    def as_dict(self) -> dict[str, str]:
        """The non-default filters, as they appear in a URL and in the audit log."""
        out = {
            "form": self.form.value if self.form else "",
            "status": self.status.value if self.status else "",
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "spam": "" if self.spam == "exclude" else self.spam,
            "q": self.q,
        }
        return {k: v for k, v in out.items() if v}


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CLINIC_TIMEZONE"])


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clinic_zone()).astimezone(UTC)


def filter_clauses(f: LeadFilter, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter (status left out when counting per status)."""
    clauses: list[ColumnElement[bool]] = []
    if f.form is not None:
        clauses.append(Lead.form == f.form)
    if with_status and f.status is not None:
        clauses.append(Lead.status == f.status)
    if f.date_from is not None:
        clauses.append(Lead.created_at >= day_start(f.date_from))
    if f.date_to is not None:
        clauses.append(Lead.created_at < day_start(f.date_to + timedelta(days=1)))
    if f.spam == "exclude":
        clauses.append(Lead.is_spam.is_(False))
    elif f.spam == "only":
        clauses.append(Lead.is_spam.is_(True))
    query = f.q.lower()
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 3 and all(ch.isdigit() or ch in " +-().-/" for ch in query):
        # A phone number however it is typed: +1 312 867 5309, (312) 867-5309, 8675309.
        terms = [digits]
    else:
        terms = query.split()[:5]
    for term in terms:
        # Every word must appear in a name, the email or the phone digits.
        clauses.append(Lead.search_text.contains(term, autoescape=True))
    return clauses


def page_bounds(total: int, page: int, per_page: int) -> tuple[int, int]:
    """The page to show (clamped to what exists) and how many pages there are."""
    pages = max(1, -(-total // per_page))
    return min(max(page, 1), pages), pages


@dataclass(frozen=True)
class LeadPage:
    leads: list[Lead]
    total: int
    page: int
    pages: int
    counts: dict[LeadStatus, int]


def list_leads(f: LeadFilter, page: int, per_page: int) -> LeadPage:
    """One page of leads, newest first, with the total and the count per status."""
    by_status = dict(
        db.session.execute(
            select(Lead.status, func.count())
            .where(*filter_clauses(f, with_status=False))
            .group_by(Lead.status)
        ).all()
    )
    counts = {status: by_status.get(status, 0) for status in LeadStatus}
    # The counts per status already add up to the total: no second count query.
    total = counts[f.status] if f.status is not None else sum(counts.values())
    page, pages = page_bounds(total, page, per_page)
    rows = db.session.scalars(
        select(Lead)
        .where(*filter_clauses(f))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return LeadPage(list(rows), total, page, pages, counts)


def change_status(lead: Lead, status: LeadStatus, user: User, seen: LeadStatus) -> bool:
    """Move a lead from the status the user saw to a new one, recording who and when.

    False when nothing changed, or when someone else moved the lead first (the UPDATE only
    matches the status the user saw), so the history never records a step that did not
    happen.
    """
    if seen is status:
        return False
    moved = db.session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.status == seen)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        return False
    db.session.add(LeadStatusChange(lead_id=lead.id, user=user, from_status=seen, to_status=status))
    audit.record(
        "lead_status",
        user=user,
        target=f"lead:{lead.id}",
        detail={"from": seen.value, "to": status.value},
    )
    db.session.commit()
    return True


def add_note(lead: Lead, body: str, user: User) -> Note:
    note = Note(lead_id=lead.id, author=user, body=body)
    db.session.add(note)
    audit.record("lead_note", user=user, target=f"lead:{lead.id}")
    db.session.commit()
    return note


def set_spam(lead: Lead, spam: bool, user: User) -> None:
    """Quarantine a lead, or release it: a released lead gets the emails it never had."""
    if lead.is_spam == spam:
        return
    lead.is_spam = spam
    lead.spam_reason = "staff" if spam else None
    if not spam and not lead.emails:
        queue_emails(lead)
    audit.record("lead_spam" if spam else "lead_not_spam", user=user, target=f"lead:{lead.id}")
    db.session.commit()


def erase_person(person: Person, user: User | None) -> int:
    """Remove a person's data everywhere; keep only a hashed opt-out. Returns leads erased."""
    key = email_hash(person.email_normalized)
    if db.session.scalar(select(Suppression).where(Suppression.email_hash == key)) is None:
        db.session.add(Suppression(email_hash=key))
    lead_ids = [lead.id for lead in person.leads]
    _delete_leads(lead_ids)
    person_id = person.id
    db.session.delete(person)
    audit.record(
        "erasure", user=user, target=f"person:{person_id}", detail={"leads": len(lead_ids)}
    )
    db.session.commit()
    return len(lead_ids)


def _delete_leads(lead_ids: list[int]) -> None:
    """Delete leads and everything hanging off them; the caller commits."""
    if not lead_ids:
        return
    for model in (OutboxEmail, GuideDownload, Note, LeadStatusChange):
        db.session.execute(
            delete(model)
            .where(model.lead_id.in_(lead_ids))
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        delete(Lead).where(Lead.id.in_(lead_ids)).execution_options(synchronize_session=False)
    )
    db.session.expire_all()


def purge_older_than(days: int, *, batch: int = 500) -> dict[str, int]:
    """Retention: delete leads older than `days`, quarantined spam first, in batches.

    People left with no lead are deleted too. Returns counts for the operator.
    """
    cutoff = datetime.now(UTC) - timedelta(days=days)
    counts = {"spam": 0, "leads": 0, "people": 0}
    for label, spam in (("spam", True), ("leads", False)):
        while True:
            ids = db.session.scalars(
                select(Lead.id).where(Lead.created_at < cutoff, Lead.is_spam.is_(spam)).limit(batch)
            ).all()
            if not ids:
                break
            _delete_leads(list(ids))
            db.session.commit()
            counts[label] += len(ids)
    orphans = select(Person.id).where(~Person.leads.any())
    counts["people"] = len(db.session.scalars(orphans).all())
    db.session.execute(
        delete(Person)
        .where(Person.id.in_(orphans.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    audit.record("purge", actor="command line", detail={"older_than_days": days, **counts})
    db.session.commit()
    return counts
