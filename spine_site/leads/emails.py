"""The emails a lead brings: the patient's confirmation or guide link, the intake desk's
notice. Each is rendered for its lead, with its links signed, and queued in the outbox
inside the caller's transaction.

The forms send mail to whatever address is typed in, so anything a patient typed is
attacker-chosen text in an email that carries the clinic's name. Patient emails echo none
of it but a first name that reads as a name (`greeting_name`): no message, no last name, no
link or sentence dressed up as a first name.

A patient email is in its lead's language (`Lead.language`, the pages the form was sent
from), rendered under `force_locale` so that holds from any request or none (a staff
resend, the outbox, the CLI): its words, its Content-Language header and every link in it,
which open the pages under /es/ for a Spanish lead. Staff emails stay English.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from spine_site import tokens
from spine_site.clock import utcnow
from spine_site.config import hours_text
from spine_site.extensions import db
from spine_site.leads.contact_promise import contact_promise
from spine_site.mail import outbox
from spine_site.models import EmailKind, FormKind, Lead, OutboxEmail
from spine_site.transaction import atomic
from spine_site.web.i18n import LANGUAGES

# Fresh guide links one lead may ask for in a day: an old link cannot fill someone's inbox.
GUIDE_RESENDS_PER_DAY = 3


# -- The greeting ------------------------------------------------------------------------

GREETING_NAME_MAX = 30
GREETING_NAME_WORDS = 3
# Marks that belong inside names: apostrophes (O'Brien, D'Angelo, the Hawaiian okina and
# its neighbour), hyphens; ZWNJ and ZWJ, which some scripts need between letters.
_APOSTROPHES = frozenset("'\u2019\u02bb\u02bc")
_HYPHENS = frozenset("-\u2010")
_JOINERS = frozenset("\u200c\u200d")
# A letter of the Latin script that reads as a full stop (U+A78F). Dot-like letters
# of other scripts are caught by the one-script rule below.
_DOT_LIKE_LETTERS = frozenset("\ua78f")
# Scripts one name may mix: Japanese writes names in kanji and both kana.
_SCRIPT_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}
# The name's shape, one symbol a character (L letter, M mark, ' apostrophe, - . and space as
# themselves): words of letters joined by inner hyphens or apostrophes, or one to three
# initials ("J.", "A.J."); at most GREETING_NAME_WORDS of them, one space apart.
_LETTER = "LM{0,3}"
_WORD = rf"'?(?:{_LETTER})+(?:[-'](?:{_LETTER})+)*|(?:{_LETTER}\.){{1,3}}"
_NAME_SHAPE = re.compile(rf"(?:{_WORD})(?: (?:{_WORD})){{0,{GREETING_NAME_WORDS - 1}}}")
_LINK_WORDS = frozenset({"www", "http", "https"})
# Words a phishing line is made of and a first name is not: "Your Account Suspended" has a
# name's shape, so its words decide. Short on purpose: each word here is one no patient is
# called, so a real name is never refused for one (a plural "s" counts as the word).
BAIT_WORDS = frozenset(
    {
        "account",
        "bank",
        "bitcoin",
        "click",
        "crypto",
        "invoice",
        "locked",
        "login",
        "password",
        "payment",
        "prize",
        "refund",
        "security",
        "suspended",
        "update",
        "urgent",
        "verify",
        "winner",
    }
)
_WORD_BREAKS = re.compile("[ .'\u2019\u02bb\u02bc\\-\u2010]+")


def greeting_name(first_name: str | None) -> str | None:
    """The first name as a patient email may greet with it, or None for a plain "Hello,"
    (in Spanish "Hola:").

    Only what reads as a name passes: letters of one script, with apostrophes, hyphens and
    initials, up to three words and 30 characters, none of them a BAIT_WORDS word. Anything
    like a link (a dot between letters, a slash, @, a scheme, www), a sentence (more words,
    other punctuation, digits) or a scam's words ("Your Account Suspended") is not echoed,
    so the form cannot send a phishing line in the clinic's name to someone else's inbox.
    Checked after NFKC, so fullwidth and styled lookalikes count as the characters they
    imitate, and the name is shown in that form.
    """
    if not first_name:
        return None
    name = re.sub(" +", " ", unicodedata.normalize("NFKC", first_name).strip(" "))
    if not name or len(name) > GREETING_NAME_MAX:
        return None
    shape = _shape(name)
    if shape is None or not _NAME_SHAPE.fullmatch(shape):
        return None
    if any(word.casefold() in _LINK_WORDS for word in name.split(" ")):
        return None
    for word in _WORD_BREAKS.split(name.casefold()):
        if word in BAIT_WORDS or word.removesuffix("s") in BAIT_WORDS:
            return None
    return name


def _shape(name: str) -> str | None:
    """The name as shape symbols, or None if it holds a character no name needs, or letters
    of more than one script (a lookalike: a Cyrillic "a" in "Paypal", a Lisu letter for a dot)."""
    shape = []
    scripts = set()
    for ch in name:
        if ch in " .":
            shape.append(ch)
        elif ch in _HYPHENS:
            shape.append("-")
        elif ch in _APOSTROPHES:
            shape.append("'")
        elif ch in _JOINERS or unicodedata.category(ch).startswith("M"):
            shape.append("M")
        elif unicodedata.category(ch).startswith("L") and ch not in _DOT_LIKE_LETTERS:
            script = unicodedata.name(ch, "MODIFIER").split(" ")[0]
            if script == "MODIFIER":  # U+02D0, U+02D1 pose as punctuation
                return None
            scripts.add(_SCRIPT_FAMILY.get(script, script))
            shape.append("L")
        else:
            return None  # digits, symbols, other punctuation, controls, format characters
    return "".join(shape) if len(scripts) <= 1 else None


# -- The emails ---------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    return current_app.config["SITE_URL"] + path


def lead_url(lead: Lead, endpoint: str, **values: Any) -> str:
    """The absolute address of a public page in the lead's language (/es/... for Spanish),
    whatever the language of the request that sends the email."""
    return absolute_url(url_for(endpoint, language=_language(lead), **values))


def _language(lead: Lead) -> str:
    return lead.language if lead.language in LANGUAGES else "en"


def queue_emails(lead: Lead) -> None:
    """Queue the emails a stored, non-spam lead brings: the patient's, and for an appointment
    request the intake desk's notice; the caller commits."""
    outbox.queue(_patient_email(lead), lead)
    staff = _staff_email(lead) if lead.form is FormKind.APPOINTMENT else None
    if staff is not None:
        outbox.queue(staff, lead)


def queue_guide_email(lead: Lead) -> None:
    """Queue the guide email with a fresh signed link; the caller commits."""
    outbox.queue(_guide_email(lead), lead)


def _patient_context(lead: Lead) -> dict[str, Any]:
    """What a patient email may say about its lead: the greeting, how and when intake will
    reach them (an appointment request: fixed sentences chosen by the form's codes), the
    links to the site in the lead's language, and the newsletter confirmation link while a
    ticked box awaits it. Never the lead itself, so no template can echo the other things a
    patient typed. Called under `force_locale(lead.language)`, so the sentences are in it."""
    context: dict[str, Any] = {
        "greeting_name": greeting_name(lead.first_name),
        "home_url": lead_url(lead, "public.index"),
        "schedule_url": lead_url(lead, "public.schedule"),
    }
    if lead.form is FormKind.APPOINTMENT:
        context["contact"] = contact_promise(
            lead.contact_method, lead.best_time, hours_text(current_app.config, lead.language)
        )
    if lead.marketing_opt_in and lead.marketing_confirmed_at is None:
        token = tokens.newsletter_token(lead.id)
        context["confirm_url"] = lead_url(lead, "public.newsletter_confirm", token=token)
        context["confirm_days"] = tokens.NEWSLETTER_CONFIRM_DAYS
    return context


def _patient_email(lead: Lead) -> outbox.RenderedEmail:
    """The email a patient gets for this lead, in its language: the confirmation, or the
    guide link."""
    if lead.form is not FormKind.APPOINTMENT:
        return _guide_email(lead)
    language = _language(lead)
    with force_locale(language):
        return outbox.render(
            kind=EmailKind.APPOINTMENT_CONFIRMATION,
            to_addr=lead.email,
            subject=_(
                "We received your appointment request - %(clinic)s",
                clinic=current_app.config["CLINIC_NAME"],
            ),
            template="appointment_confirmation",
            context=_patient_context(lead),
            language=language,
        )


def _staff_email(lead: Lead) -> outbox.RenderedEmail | None:
    """The intake desk's notice of a new appointment request, if anyone is to get one."""
    to_addr = current_app.config.get("STAFF_NOTIFY_EMAIL")
    if not to_addr:
        return None
    # Only a link: no name, reason or message leaves the system in this email. English,
    # whatever the patient's language: staff work in English.
    return outbox.render(
        kind=EmailKind.STAFF_NOTIFICATION,
        to_addr=to_addr,
        subject=f"New appointment request #{lead.id}",
        template="staff_notification",
        context={"lead_url": absolute_url(f"/staff/leads/{lead.id}"), "lead_id": lead.id},
    )


def _guide_email(lead: Lead) -> outbox.RenderedEmail:
    """The guide link in the lead's language, signed now: its days count from this email's
    request. Its links (download, unsubscribe, the site) open the pages in that language."""
    config = current_app.config
    language = _language(lead)
    unsubscribe = lead_url(
        lead, "public.unsubscribe", token=tokens.unsubscribe_token(lead.person_id)
    )
    download = lead_url(lead, "public.guide_download", token=tokens.guide_token(lead.id))
    with force_locale(language):
        return outbox.render(
            kind=EmailKind.GUIDE,
            to_addr=lead.email,
            subject=_("Your free guide from %(clinic)s", clinic=config["CLINIC_NAME"]),
            template="guide",
            context={
                **_patient_context(lead),
                "download_url": download,
                "days": config["GUIDE_LINK_DAYS"],
                "unsubscribe_url": unsubscribe,
            },
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            language=language,
        )


def resend_guide(lead: Lead) -> bool:
    """Send a fresh guide link to the lead's address; False if several went out in the last
    day."""
    since = utcnow() - timedelta(days=1)
    with atomic():
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
    outbox.wake_sender()
    return True
