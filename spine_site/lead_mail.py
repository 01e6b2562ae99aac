"""The emails a lead brings: the patient's confirmation or guide link, the intake desk's
notice. Each is queued in the outbox inside the caller's transaction.

The forms send mail to whatever address is typed in, so anything a patient typed is
attacker-chosen text in an email that carries the clinic's name. Patient emails echo none
of it but a first name that reads as a name (`greeting_name`): no message, no last name, no
link or sentence dressed up as a first name.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app, url_for
from markupsafe import escape
from sqlalchemy import func, select

from . import mail_links, outbox, tokens
from .clock import utcnow
from .config import CLINIC_SETTINGS
from .contact_promise import contact_promise
from .extensions import db
from .models import EmailKind, FormKind, Lead, OutboxEmail

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


def greeting_name(first_name: str | None) -> str | None:
    """The first name as a patient email may greet with it, or None for a plain "Hello,".

    Only what reads as a name passes: letters of one script, with apostrophes, hyphens and
    initials, up to three words and 30 characters. Anything like a link (a dot between
    letters, a slash, @, a scheme, www) or a sentence (more words, other punctuation,
    digits) is not echoed, so the form cannot send a phishing line in the clinic's name to
    someone else's inbox. Checked after NFKC, so fullwidth and styled lookalikes count as
    the characters they imitate, and the name is shown in that form.
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


class MailFacts(Protocol):
    """What a lead's emails are made from: a stored Lead, or a new lead's values."""

    @property
    def form(self) -> FormKind: ...
    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def contact_method(self) -> str | None: ...
    @property
    def best_time(self) -> str | None: ...
    @property
    def marketing_opt_in(self) -> bool: ...
    @property
    def marketing_confirmed_at(self) -> datetime | None: ...


# A new lead's links are placeholders until its email is sent (mail_links). The greeting
# name has one too, used only while a wording's skeleton is made (below): random per
# process, and gone from every email before it is queued.
_MARKS = {**mail_links.MARKS, "greeting_name": "0" + secrets.token_hex(16)}


class Links:
    """The token in each signed link of one lead's emails: real ones for a stored lead,
    placeholders for a new one (signed when the email is sent: mail_links)."""

    def __init__(self, lead_id: int | None = None, person_id: int | None = None) -> None:
        self._ids = None if lead_id is None or person_id is None else (lead_id, person_id)

    def token(self, kind: str) -> str:
        if self._ids is not None:
            return mail_links.MAKERS[kind](*self._ids, None)
        return mail_links.MARKS[kind]

    def render(self, **email: Any) -> outbox.RenderedEmail:
        """outbox.render, from a per-process copy made once per wording while the links are
        placeholders (see _from_skeleton)."""
        # (Templates that reload when edited, in development, are rendered afresh each time.)
        if self._ids is not None or current_app.jinja_env.auto_reload:
            return outbox.render(**email)
        return _from_skeleton(email)


# -- Rendering a new lead's email from a skeleton -----------------------------------------
# With the links as placeholders, a patient email differs from lead to lead only in the
# greeting name: the rest is the settings and the form's choice codes. So each wording is
# rendered once per process with a placeholder for the name too (its skeleton), and a post
# only replaces the placeholders: Jinja's work, the text body's word wrap most of all, was
# the largest part of a submission. A skeleton is used only where that gives the bytes a
# full rendering gives (_fills_exactly); otherwise, or for an email not seen before and too
# many wordings, it renders as usual.
TEXT_WIDTH = 72  # the text bodies' wordwrap(72, break_long_words=false)
_SKELETONS: dict[tuple[Any, ...], outbox.RenderedEmail | None] = {}


def _from_skeleton(email: dict[str, Any]) -> outbox.RenderedEmail:
    name = email["context"].get("greeting_name")
    shaped = {**email, "to_addr": "", "context": {**email["context"]}}
    if name:
        shaped["context"]["greeting_name"] = _MARKS["greeting_name"]
    key = _skeleton_key(shaped)
    if key not in _SKELETONS:
        if len(_SKELETONS) >= 256:
            _SKELETONS.clear()  # a wording per setting and choice code: this is a leak guard
        skeleton = outbox.render(**shaped)
        _SKELETONS[key] = skeleton if _fills_exactly(skeleton, shaped) else None
    skeleton = _SKELETONS[key]
    if skeleton is None:
        return outbox.render(**email)
    return _with_greeting(skeleton, name, email["to_addr"])


def _skeleton_key(shaped: dict[str, Any]) -> tuple[Any, ...]:
    config = current_app.config
    settings = (config["SITE_URL"], config["MAIL_DEFAULT_SENDER"], config.get("MAIL_REPLY_TO"))
    clinic = tuple(config.get(key) for key in CLINIC_SETTINGS)
    context = tuple(sorted(shaped["context"].items()))
    headers = tuple(sorted((shaped.get("headers") or {}).items()))
    # (Hashed as it is: the context holds strings, numbers and frozen dataclasses.)
    parts = (shaped["kind"], shaped["subject"], shaped["template"], context, headers, clinic)
    return (id(current_app.jinja_env), settings, parts)


def _with_greeting(
    skeleton: outbox.RenderedEmail, name: str | None, to_addr: str
) -> outbox.RenderedEmail:
    mark = _MARKS["greeting_name"]
    return dataclasses.replace(
        skeleton,
        to_addr=to_addr,
        body_text=skeleton.body_text.replace(mark, name) if name else skeleton.body_text,
        # Jinja's autoescape of a plain string is markupsafe.escape: the same here.
        body_html=skeleton.body_html.replace(mark, str(escape(name)))
        if name
        else skeleton.body_html,
    )


def _fills_exactly(skeleton: outbox.RenderedEmail, shaped: dict[str, Any]) -> bool:
    """Whether filling the skeleton gives what rendering each value gives.

    In the text body every placeholder must be a paragraph of its own line (blank lines
    around), so the word wrap cannot move it or its neighbours: a link alone as one word
    (the wrap never breaks a word), the greeting short enough to fit at any name length.
    The name must not reach the subject or headers, and a sample name, rendered in full,
    must match the filled skeleton (a filter on the name, or an escape, would differ).
    """
    lines = skeleton.body_text.split("\n")
    marks = _MARKS.values()
    for i, line in enumerate(lines):
        if not any(mark in line for mark in marks):
            continue
        alone = (i == 0 or not lines[i - 1]) and (i == len(lines) - 1 or not lines[i + 1])
        if _MARKS["greeting_name"] in line:
            longest = len(line) - len(_MARKS["greeting_name"]) + GREETING_NAME_MAX
            fits = max(longest, len(line)) <= TEXT_WIDTH
        else:
            fits = " " not in line
        if not (alone and fits):
            return False
    mark = _MARKS["greeting_name"]
    if mark in skeleton.subject or any(mark in value for value in skeleton.headers.values()):
        return False
    if shaped["context"].get("greeting_name") != mark:
        return True
    sample = "Zoë O'Brien-Ng"
    full = outbox.render(**{**shaped, "context": {**shaped["context"], "greeting_name": sample}})
    return full == _with_greeting(skeleton, sample, "")


def patient_context(lead: MailFacts, links: Links) -> dict[str, Any]:
    """What a patient email may say about its lead: the greeting, how and when intake will
    reach them (an appointment request: fixed sentences chosen by the form's codes), and the
    newsletter confirmation link while a ticked box awaits it. Never the lead itself, so no
    template can echo the other things a patient typed."""
    context: dict[str, Any] = {"greeting_name": greeting_name(lead.first_name)}
    if lead.form is FormKind.APPOINTMENT:
        context["contact"] = contact_promise(
            lead.contact_method, lead.best_time, current_app.config["CLINIC_HOURS_TEXT"]
        )
    if lead.marketing_opt_in and lead.marketing_confirmed_at is None:
        token = links.token("newsletter")
        context["confirm_url"] = absolute_url(url_for("public.newsletter_confirm", token=token))
        context["confirm_days"] = tokens.NEWSLETTER_CONFIRM_DAYS
    return context


def patient_email(lead: MailFacts, links: Links) -> outbox.RenderedEmail:
    """The email a patient gets for this lead: the confirmation, or the guide link."""
    if lead.form is not FormKind.APPOINTMENT:
        return _guide_email(lead, links)
    return links.render(
        kind=EmailKind.APPOINTMENT_CONFIRMATION,
        to_addr=lead.email,
        subject=f"We received your appointment request - {current_app.config['CLINIC_NAME']}",
        template="appointment_confirmation",
        context=patient_context(lead, links),
    )


def notifies_staff() -> bool:
    """Whether a new appointment request is to be told to the intake desk by email."""
    return bool(current_app.config.get("STAFF_NOTIFY_EMAIL"))


def staff_email(lead_id: int) -> outbox.RenderedEmail | None:
    """The intake desk's notice of a new appointment request, if anyone is to get one."""
    to_addr = current_app.config.get("STAFF_NOTIFY_EMAIL")
    if not to_addr:
        return None
    # Only a link: no name, reason or message leaves the system in this email. (Rendered with
    # the real id: the id's length decides where its text line wraps.)
    return outbox.render(
        kind=EmailKind.STAFF_NOTIFICATION,
        to_addr=to_addr,
        subject=f"New appointment request #{lead_id}",
        template="staff_notification",
        context={"lead_url": absolute_url(f"/staff/leads/{lead_id}"), "lead_id": lead_id},
    )


def queue_emails(lead: Lead) -> None:
    """Add the emails a stored (non-spam) lead triggers; the caller commits."""
    outbox.add(patient_email(lead, Links(lead.id, lead.person_id)), lead)
    staff = staff_email(lead.id) if lead.form is FormKind.APPOINTMENT else None
    if staff is not None:
        outbox.add(staff, lead)


def queue_guide_email(lead: Lead) -> None:
    """Queue the guide email with a fresh signed link; the caller commits."""
    outbox.add(_guide_email(lead, Links(lead.id, lead.person_id)), lead)


def _guide_email(lead: MailFacts, links: Links) -> outbox.RenderedEmail:
    config = current_app.config
    unsubscribe = absolute_url(url_for("public.unsubscribe", token=links.token("unsubscribe")))
    download = url_for("public.guide_download", token=links.token("guide"))
    return links.render(
        kind=EmailKind.GUIDE,
        to_addr=lead.email,
        subject=f"Your free guide from {config['CLINIC_NAME']}",
        template="guide",
        context={
            **patient_context(lead, links),
            "download_url": absolute_url(download),
            "days": config["GUIDE_LINK_DAYS"],
            "unsubscribe_url": unsubscribe,
        },
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def resend_guide(lead: Lead) -> bool:
    """Send a fresh guide link to the lead's address, and commit; False if several went out
    in the last day."""
    since = utcnow() - timedelta(days=1)
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
    outbox.wake_sender()
    return True
