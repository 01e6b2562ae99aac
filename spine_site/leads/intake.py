"""Intake: what a patient may submit, and storing one submission with its emails at once.

No Flask request objects here: the public views pass plain values in.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.leads import emails
from spine_site.leads.people import person_for
from spine_site.mail import outbox
from spine_site.models import FormKind, GuideDownload, Lead
from spine_site.ops import metrics
from spine_site.tokens import FormToken
from spine_site.transaction import atomic

log = logging.getLogger(__name__)

# The reasons a patient can pick: the conditions the physiatrist article covers, plus other.
# Each label reads in the language of the page or email it is shown on (staff pages are
# English); a file written for staff (the exports) takes str() of it outside any page.
REASONS: list[tuple[str, LazyString]] = [
    ("herniated_disc", _l("Herniated or bulging disc")),
    ("degenerative_disc", _l("Degenerative disc disease")),
    ("annular_tear", _l("Annular tear")),
    ("disc_back_pain", _l("Disc-related back pain")),
    ("radiculopathy", _l("Radiculopathy (radiating arm or leg pain)")),
    ("sciatica", _l("Sciatica")),
    ("neuropathy", _l("Peripheral neuropathy")),
    ("stenosis", _l("Spinal stenosis")),
    ("spondylolisthesis", _l("Spondylolisthesis")),
    ("facet", _l("Facet joint arthritis")),
    ("failed_surgery", _l("Pain after back surgery")),
    ("chronic_pain", _l("Long-lasting (chronic) back or neck pain")),
    ("injury", _l("Spine pain after an injury")),
    ("other", _l("Something else")),
]
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
CONTACT_METHODS: list[tuple[str, LazyString]] = [
    ("phone", _l("Phone call")),
    ("text", _l("Text message")),
    ("email", _l("Email")),
]
BEST_TIMES: list[tuple[str, LazyString]] = [
    ("morning", _l("Morning")),
    ("afternoon", _l("Afternoon")),
    ("evening", _l("Early evening")),
]

# What a patient types into each form, in the order the form shows it. The forms take their
# field order from here, and the submission key (below) covers exactly these fields.
APPOINTMENT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "contact_method",
    "best_time",
    "reason",
    "message",
    "consent",
)
GUIDE_FIELDS = ("first_name", "email", "opt_in")
# What intake stores besides: the phone's extension, which the patient types in the phone field.
SUBMITTED_FIELDS = (*dict.fromkeys(APPOINTMENT_FIELDS + GUIDE_FIELDS), "phone_extension")
# An office extension is a few digits; 8 leaves room for the longest dial plans
# (models.Lead.phone_extension is as wide).
EXTENSION_MAX_DIGITS = 8


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


def submission_key(form_nonce: str, fields: Mapping[str, object]) -> str:
    """The form rendering's nonce plus a digest of the content.

    A double click or a browser resend repeats both, so it finds the stored lead. A patient who
    goes Back, corrects the phone number and sends the same form again gets a new key: the
    correction is a new submission, not silently dropped.
    """
    content = "\x1f".join(f"{name}={fields.get(name) or ''}" for name in SUBMITTED_FIELDS)
    return hashlib.sha256(f"{form_nonce}\x1e{content}".encode()).hexdigest()


def spam_reason(honeypot: str | None, token: FormToken, now: float | None = None) -> str | None:
    """Why a submission looks automated, or None: the honeypot, or a form filled too fast.

    A token reissued to a form sent back for resubmission is exempt from the fill time: the
    patient has been typing all along.
    """
    if honeypot:
        return "honeypot"
    now = time.time() if now is None else now
    minimum = current_app.config["FORM_MIN_FILL_SECONDS"]
    if not token.reissued and now - token.issued_at < minimum:
        return "too_fast"
    return None


def capture(
    form: FormKind,
    fields: Mapping[str, object],
    *,
    form_nonce: str,
    attribution: Attribution,
    spam_reason: str | None = None,
    language: str = "en",
) -> CaptureResult:
    """Store one submission and queue its emails in a single commit.

    `fields` are already validated and normalised (email, E.164 phone, the phone's extension
    in digits as `phone_extension`). A repeat of a stored
    submission (same rendered form, same content) returns the stored lead: one lead, one set
    of emails. `language` is the pages' ("en", "es"): the lead's emails, links and pages
    follow it, and the consent it stores names the wording the patient read.
    """
    key = submission_key(form_nonce, fields)
    try:
        return _store(_new_lead(form, fields, key, attribution, spam_reason, language))
    except IntegrityError:
        pass  # (rolled back by transaction.atomic)
    # A unique value was taken while we wrote. The submission key: a repeat (a double click,
    # a resend), so the stored lead is the answer; no lookup before the insert, since a repeat
    # is rare and the unique index is the check that holds. Otherwise the address: a first
    # request from the same new address committed its person first, and now finds it.
    existing = db.session.scalar(select(Lead).where(Lead.submission_token == key))
    if existing is not None:
        return CaptureResult(existing, created=False)
    return _store(_new_lead(form, fields, key, attribution, spam_reason, language))


def _store(lead: Lead) -> CaptureResult:
    """Add the lead with its person, flush for the ids its emails name, queue the emails;
    one transaction."""
    with atomic():
        lead.person = person_for(lead.email)
        db.session.add(lead)
        db.session.flush()
        if not lead.is_spam:
            emails.queue_emails(lead)
        # (Read before the commit expires the lead: logging them needs no reload.)
        lead_id, form, spam = lead.id, lead.form, lead.is_spam
    log.info("lead %s stored (%s%s)", lead_id, form.value, ", quarantined" if spam else "")
    metrics.lead_stored(form, spam=spam)
    if not spam:
        outbox.wake_sender()
    return CaptureResult(lead, created=True)


def _new_lead(
    form: FormKind,
    fields: Mapping[str, object],
    key: str,
    attribution: Attribution,
    spam: str | None,
    language: str,
) -> Lead:
    """The Lead for a submission, not yet in the session (the model fills its defaults)."""
    config = current_app.config
    now = utcnow()
    lead = Lead(
        form=form,
        submission_token=key,
        created_at=now,
        language=language,
        first_name=str(fields["first_name"]),
        last_name=_opt(fields.get("last_name")),
        email=str(fields["email"]),
        phone=_opt(fields.get("phone")),
        phone_extension=_opt(fields.get("phone_extension")),
        contact_method=_opt(fields.get("contact_method")),
        best_time=_opt(fields.get("best_time")),
        reason=_opt(fields.get("reason")),
        message=_opt(fields.get("message")),
        is_spam=spam is not None,
        spam_reason=spam,
        referrer=attribution.referrer,
        landing_page=attribution.landing_page,
        source_page=attribution.source_page,
        placement=attribution.placement,
        **{f"utm_{name}": attribution.utm.get(name) for name in UTM_KEYS},
    )
    lead.search_text = search_words(lead.first_name, lead.last_name, lead.email, lead.phone)
    if fields.get("consent"):
        lead.consent_contact = True
        lead.consent_version = consent_version(config["CONSENT_VERSION"], language)
        lead.consent_at = now
    if fields.get("opt_in"):
        lead.marketing_opt_in = True
        lead.marketing_consent_version = consent_version(
            config["MARKETING_CONSENT_VERSION"], language
        )
    return lead


def consent_version(version: str, language: str) -> str:
    """The wording a patient agreed to: the English version's name, with `-es` (and so on)
    for its translation, which is a wording of its own."""
    return version if language == "en" else f"{version}-{language}"


def search_words(first: str, last: str | None, email: str, phone: str | None) -> str:
    """What the staff search looks in: names, email, phone digits, lower-cased."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return " ".join(p for p in (first, last, email, digits) if p).lower()


def _opt(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


@atomic()
def record_download(lead: Lead) -> None:
    """Note one guide download on its lead."""
    db.session.add(GuideDownload(lead=lead, downloaded_at=utcnow()))
