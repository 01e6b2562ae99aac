"""Leads: capture a submission with its emails in one transaction; link people; opt-outs.

No Flask request objects here: views pass plain values in.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import outbox, tokens
from .extensions import db
from .models import EmailKind, FormKind, GuideDownload, Lead, Person, Suppression

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


def capture(
    form: FormKind,
    fields: Mapping[str, object],
    *,
    submission_token: str,
    attribution: Attribution,
    spam_reason: str | None = None,
) -> CaptureResult:
    """Store one submission and queue its emails in a single commit.

    `fields` are already validated and normalised (email, E.164 phone). A token seen before
    returns the stored lead, so a double click or a resend makes one lead and one set of mail.
    """
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


def resend_guide(lead: Lead) -> None:
    """Send a fresh guide link to the lead's address (the old one expired)."""
    queue_guide_email(lead)
    db.session.commit()


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
