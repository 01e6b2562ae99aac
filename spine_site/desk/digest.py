"""The intake desk's morning summary: three counts and a link, emailed to STAFF_NOTIFY_EMAIL.

The counts are the queue's own (waiting, overdue, follow-ups due today), with the waiting
requests in languages other than English counted per language. No name, contact detail or
anything a patient typed is read, so none can leave in it.

Sent at once with the configured transport, not through the outbox: a summary that comes
late is wrong, and a timer job should fail where the operator sees it (a non-zero exit)
rather than retry quietly into the afternoon.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from spine_site.clock import clinic_zone, day_start, utcnow
from spine_site.config import clinic_details
from spine_site.desk import queue
from spine_site.desk.attempts import business_hours
from spine_site.desk.business_hours import BusinessHours
from spine_site.extensions import db
from spine_site.mail.policy import MAIL_POLICY, reply_to
from spine_site.mail.transports import transport_for
from spine_site.models import Lead
from spine_site.web.i18n import DEFAULT, LANGUAGES

QUEUE_PATH = "/staff/"


class DigestError(Exception):
    """The summary cannot be sent (no recipient set, or the mail server refused or failed)."""


@dataclass(frozen=True)
class DeskCounts:
    day: date  # the clinic's day the counts are for
    waiting: int
    overdue: int
    follow_ups_today: int
    target_minutes: int
    # Waiting requests per language other than English (name -> count; none when 0).
    waiting_in: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    counts: DeskCounts
    recipient: str


def desk_counts(now: datetime | None = None) -> DeskCounts:
    """The three counts as of `now` (default: this moment). Read-only."""
    moments = queue.moments(business_hours(), now)
    # The queue's own counts, so the summary cannot disagree with the tabs the link opens.
    found = queue.counts(moments, None)
    (waiting,) = queue.view_clauses("first_contact", moments, None)
    in_languages = db.session.execute(
        select(Lead.language, func.count())
        .where(*waiting, Lead.language != DEFAULT)
        .group_by(Lead.language)
    ).all()
    return DeskCounts(
        day=moments.now.astimezone(clinic_zone()).date(),
        waiting=found["first_contact"],
        overdue=found["overdue"],
        follow_ups_today=found["due_today"],
        target_minutes=int(current_app.config["FIRST_CONTACT_TARGET_MINUTES"]),
        waiting_in={
            LANGUAGES.get(code, code): count for code, count in sorted(in_languages) if count
        },
    )


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def subject(counts: DeskCounts) -> str:
    """E.g. "Intake desk: 4 waiting (1 in Spanish), 1 overdue, 3 follow-ups today"."""
    follow_ups = _plural(counts.follow_ups_today, "follow-up", "follow-ups")
    languages = ", ".join(f"{count} in {name}" for name, count in counts.waiting_in.items())
    waiting = f"{counts.waiting} waiting" + (f" ({languages})" if languages else "")
    return f"Intake desk: {waiting}, {counts.overdue} overdue, {follow_ups} today"


def _recipient(config: Mapping[str, Any]) -> str:
    recipient = config.get("STAFF_NOTIFY_EMAIL")
    if not recipient:
        raise DigestError(
            "STAFF_NOTIFY_EMAIL is not set: set it to the intake desk's address "
            "(e.g. STAFF_NOTIFY_EMAIL=intake@example-clinic.com) to send the summary."
        )
    return str(recipient)


def build_message(counts: DeskCounts, config: Mapping[str, Any]) -> EmailMessage:
    """The summary email: plain text and HTML, from the counts and settings only."""
    recipient = _recipient(config)
    context = {
        "clinic": clinic_details(config),
        "counts": counts,
        "day": f"{counts.day:%A} {counts.day.day} {counts.day:%B %Y}",
        "queue_url": config["SITE_URL"] + QUEUE_PATH,
    }
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["Reply-To"] = reply_to(config)
    message["To"] = recipient
    message["Subject"] = subject(counts)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(
        idstring=secrets.token_hex(8), domain=urlsplit(config["SITE_URL"]).hostname
    )
    # A summary for people at work, not a conversation: tell autoresponders to stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    # Rendered by the app's Jinja environment itself (same autoescaping by file name): the
    # command runs outside any request, and the site's context processors read the request.
    templates = current_app.jinja_env
    message.set_content(templates.get_template("email/staff_digest.txt").render(context))
    html = templates.get_template("email/staff_digest.html").render(context)
    message.add_alternative(html, subtype="html")
    return message


def clinic_opens_on(day: date, hours: BusinessHours) -> bool:
    """Whether the clinic has any opening hours on this local day (CLINIC_HOURS, holidays)."""
    return hours.next_opening(day_start(day)) < day_start(day + timedelta(days=1))


def send_digest(now: datetime | None = None, *, open_days_only: bool = False) -> Sent | None:
    """Count, build and send the summary at once; None when skipped on a day the clinic
    does not open (with `open_days_only`). Raises DigestError when there is no recipient or
    the transport fails, so the command exits non-zero."""
    config = current_app.config
    _recipient(config)  # a missing setting fails every run, closed days included
    now = now or utcnow()
    today = now.astimezone(clinic_zone()).date()
    if open_days_only and not clinic_opens_on(today, business_hours()):
        return None
    counts = desk_counts(now)
    message = build_message(counts, config)
    try:
        transport_for(config).send(message)
    except Exception as exc:  # any failure to hand it over: say which, exit non-zero
        raise DigestError(f"the summary could not be sent: {type(exc).__name__}: {exc}") from exc
    return Sent(counts, str(message["To"]))
