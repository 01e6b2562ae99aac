"""Transactional outbox: emails are rows written with their lead, delivered by senders.

Any number of senders may run at once (the thread inside each web process, and
`flask outbox work`): each row is claimed with one conditional UPDATE, so only one sender
holds it. A sender that dies mid-send leaves a lease that expires, and the row is retried.
How a message leaves (SMTP, or files in development) is mail/transports.py.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from spine_site.clock import utcnow
from spine_site.config import clinic_details
from spine_site.extensions import db
from spine_site.mail.policy import MAIL_POLICY, reply_to
from spine_site.mail.transports import (
    Rejected,
    Transport,
    failure_summary,
    server_text,
    transport_for,
)
from spine_site.models import EmailKind, EmailStatus, Lead, OutboxEmail
from spine_site.transaction import atomic

log = logging.getLogger(__name__)


# -- Writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    """An email rendered for one recipient and ready to queue."""

    kind: EmailKind
    to_addr: str
    subject: str
    body_text: str
    body_html: str
    headers: dict[str, str]


def render(
    *,
    kind: EmailKind,
    to_addr: str,
    subject: str,
    template: str,
    context: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
) -> RenderedEmail:
    """Render an email's text and HTML bodies and its headers; nothing touches the session.

    `language` is a patient email's ("en", "es": its lead's): the bodies are rendered in it
    whatever the request's own language (a staff page, the CLI, an /es/ form that also
    notifies staff), and the email says so in Content-Language; the caller translates the
    subject (under `force_locale` too). None is a staff email: English, with no
    Content-Language.
    """
    config = current_app.config
    ctx = {
        "clinic": clinic_details(config, language or "en"),
        "site_url": config["SITE_URL"],
        "email_language": language or "en",  # the HTML's lang, as Content-Language says
        **context,
    }
    all_headers = {"From": config["MAIL_DEFAULT_SENDER"], "Reply-To": reply_to(config)}
    if language is not None:
        all_headers["Content-Language"] = language
    all_headers.update(headers or {})
    # Straight from the Jinja environment: an email uses only the context given here, so
    # Flask's context processors (the page's site details, request, session) would be
    # computed for nothing on every email.
    jinja = current_app.jinja_env
    with force_locale(language or "en"):
        return RenderedEmail(
            kind=kind,
            to_addr=to_addr,
            subject=subject,
            body_text=jinja.get_template(f"email/{template}.txt").render(ctx),
            body_html=jinja.get_template(f"email/{template}.html").render(ctx),
            headers=all_headers,
        )


def queue(rendered: RenderedEmail, lead: Lead) -> OutboxEmail:
    """Add a rendered email to the session as a queued row of this stored lead; the caller
    commits."""
    domain = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    email = OutboxEmail(
        # By its id, not the relationship: the flush then writes this row alone, without
        # working through the lead and its collections as well.
        lead_id=lead.id,
        kind=rendered.kind,
        to_addr=rendered.to_addr,
        subject=rendered.subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
        headers=rendered.headers,
        # A random idstring from the OS: make_msgid's own part comes from `random`, which a
        # seeded caller (a test, a library) can make repeat within one clock tick.
        message_id=make_msgid(idstring=secrets.token_hex(8), domain=domain),
    )
    db.session.add(email)
    return email


def wake_sender() -> None:
    """Tell this process's sender thread that mail was just committed (sent within seconds)."""
    current_app.extensions["outbox_sender"].wake()


def build_message(email: OutboxEmail) -> EmailMessage:
    """The MIME message for a row: plain text first, HTML as the alternative."""
    msg = EmailMessage(policy=MAIL_POLICY)
    # Content-* headers (Content-Language) go on last: set_content clears them, and making
    # the message multipart moves them into its first part.
    content = {n: v for n, v in email.headers.items() if n.lower().startswith("content-")}
    for name, value in email.headers.items():
        if name not in content:
            msg[name] = value
    msg["To"] = email.to_addr
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = email.message_id
    msg.set_content(email.body_text)
    msg.add_alternative(email.body_html, subtype="html")
    for name, value in content.items():
        msg[name] = value
    return msg


# -- Delivering ---------------------------------------------------------------------------


def _due_clause(now: datetime):
    return or_(
        and_(OutboxEmail.status == EmailStatus.QUEUED, OutboxEmail.next_attempt_at <= now),
        # A sender that died mid-send: its lease ran out, so the row is fair game again.
        and_(OutboxEmail.status == EmailStatus.SENDING, OutboxEmail.claimed_until < now),
    )


@atomic()
def claim(email_id: int, now: datetime, lease_seconds: int) -> EmailMessage | None:
    """Take one row for sending and build its message; None unless this sender won it.

    The message is built inside the claiming transaction, which then commits: no
    transaction (on SQLite: no write lock) stays open while SMTP takes its time.
    """
    result = db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == email_id, _due_clause(now))
        .values(
            status=EmailStatus.SENDING,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=OutboxEmail.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    email = db.session.get(OutboxEmail, email_id) if result.rowcount == 1 else None
    message = build_message(email) if email is not None else None
    return message


@atomic()
def claim_next(lease_seconds: int) -> tuple[int, EmailMessage] | None:
    """Claim the most overdue email, or None when nothing is due.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent senders each take a
    different row without waiting on one another. SQLite: the transaction begins IMMEDIATE,
    so one sender claims at a time. Either way claim()'s conditional UPDATE is the guard.
    """
    now = utcnow()
    pick = (
        select(OutboxEmail.id)
        .where(_due_clause(now))
        .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    email_id = db.session.scalar(pick)
    if email_id is None:
        return None
    message = claim(email_id, now, lease_seconds)
    return (email_id, message) if message is not None else None


def backoff(attempts: int, base_seconds: int) -> timedelta:
    """Wait before try number attempts+1: base, 2x, 4x ... capped at six hours."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 6 * 3600))


def deliver_due(transport: Transport | None = None, limit: int = 50) -> int:
    """Send every due email once; returns how many were sent. Needs an app context."""
    config = current_app.config
    transport = transport or transport_for(config)
    sent = 0
    for _ in range(limit):
        claimed = claim_next(config["OUTBOX_LEASE_SECONDS"])
        if claimed is None:
            break
        email_id, message = claimed
        error: Exception | None = None
        try:
            transport.send(message)
        except Exception as exc:  # recorded: a refusal fails it, anything else retries
            error = exc
        if _record_outcome(email_id, error, config):
            sent += 1
    return sent


def _record_outcome(email_id: int, error: Exception | None, config: Mapping[str, Any]) -> bool:
    """Write what happened to one send, in a short transaction of its own; True if sent.

    If the database is briefly unreachable (a restart), keep trying for a while rather than
    forget: a sent email whose "sent" is lost would be sent again after its lease runs out.
    """
    deadline = time.monotonic() + config["OUTBOX_LEASE_SECONDS"] / 2
    while True:
        try:
            with atomic():
                email = db.session.get(OutboxEmail, email_id)
                if email is None:  # erased while it was being sent
                    return False
                if error is not None:
                    _record_failure(email, error, config)
                else:
                    email.status = EmailStatus.SENT
                    email.sent_at = utcnow()
                    email.claimed_until = None
                    email.last_error = None
                    log.info("email %s (%s) sent", email.id, email.kind.value)
            return error is None
        except (OperationalError, InterfaceError):
            db.session.rollback()  # (the connection may be gone: start the next try clean)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _record_failure(email: OutboxEmail, exc: Exception, config: Mapping[str, Any]) -> None:
    # Staff see a fixed summary (code and explanation); the server's own words, which
    # whoever runs that server chose, are only logged. Neither holds the message itself.
    email.last_error = failure_summary(exc)[:500]
    email.claimed_until = None
    said = server_text(exc)
    reply = f"; the server said: {said}" if said else ""
    if isinstance(exc, Rejected):
        # A 5xx about this message (no such mailbox, content refused): more tries would get
        # more refusals. Staff see why on the lead page and can resend.
        email.status = EmailStatus.FAILED
        email.last_error = f"Refused by the mail server, not retried: {email.last_error}"[:500]
        log.warning("email %s refused by the mail server; not retried%s", email.id, reply)
    elif email.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
        email.status = EmailStatus.FAILED
        log.warning(
            "email %s failed for good after %s tries: %s%s",
            email.id,
            email.attempts,
            type(exc).__name__,
            reply,
        )
    else:
        email.status = EmailStatus.QUEUED
        email.next_attempt_at = utcnow() + backoff(email.attempts, config["OUTBOX_BACKOFF_SECONDS"])
        log.warning(
            "email %s not sent (try %s): %s%s", email.id, email.attempts, type(exc).__name__, reply
        )


def resend(email: OutboxEmail) -> None:
    """Put a failed (or sent) email back in the queue for one more round of tries."""
    email.status = EmailStatus.QUEUED
    email.attempts = 0
    email.next_attempt_at = utcnow()
    email.claimed_until = None


# -- The sender thread inside each web process ------------------------------------------


class BackgroundSender:
    """A daemon thread that delivers due mail; woken right after a lead commits."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        # Started lazily in the serving process: a thread made before gunicorn forks (or in
        # the reloader's parent) would not exist in the worker.
        pid = os.getpid()
        if self._thread is not None and self._thread.is_alive() and self._pid == pid:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == pid:
                return
            self._pid = pid
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        poll = self.app.config["OUTBOX_POLL_SECONDS"]
        while not self._stop.is_set():
            self._wake.wait(poll)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                with self.app.app_context():
                    deliver_due()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox sender: delivery round failed")
                time.sleep(1)


def work_forever(app: Flask, poll_seconds: float, stop: threading.Event | None = None) -> None:
    """The `flask outbox work` loop: deliver, sleep, repeat until stopped."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            with app.app_context():
                deliver_due()
        except Exception:
            log.exception("outbox worker: delivery round failed")
        stop.wait(poll_seconds)
