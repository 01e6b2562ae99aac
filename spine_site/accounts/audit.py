"""The audit log: logins, failed logins, lead views, changes, exports, erasures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from flask import has_request_context, request
from sqlalchemy import ColumnElement, func, select

from spine_site.clock import day_start
from spine_site.extensions import db
from spine_site.leads.lead_list import page_bounds
from spine_site.models import AuditEvent, User

# Every action the log knows, with the words the audit page shows for it.
ACTIONS: dict[str, str] = {
    "login": "Signed in",
    "login_failed": "Failed sign-in",
    "login_throttled": "Sign-in refused (too many failures)",
    "logout": "Signed out",
    "lead_view": "Viewed a lead",
    "lead_status": "Changed a lead's status",
    "lead_note": "Added a note",
    "lead_attempt": "Recorded a contact attempt",
    "lead_follow_up": "Set the next try",
    "lead_owner": "Changed a request's owner",
    "person_view": "Viewed a person's timeline",
    "lead_spam": "Marked a lead as spam",
    "lead_not_spam": "Released a lead from quarantine",
    "email_resend": "Resent an email",
    "export": "Exported leads (CSV or Excel)",
    "analytics_export": "Exported analytics (CSV)",
    "erasure": "Erased a person's data",
    "purge": "Purged old leads",
    "user_create": "Created a staff account",
    "user_role": "Changed a role",
    "user_disable": "Disabled an account",
    "user_enable": "Enabled an account",
    "user_password": "Reset a password",
    "password_check_failed": "Wrong current password when changing it",
    "password_check_throttled": "Signed out after wrong current passwords",
    "login_password": "Password accepted (second step next)",
    "mfa_failed": "Wrong authenticator code",
    "recovery_failed": "Wrong recovery code",
    "mfa_throttled": "Second-factor code refused (too many wrong)",
    "passkey_failed": "Passkey sign-in did not verify",
    "mfa_totp_added": "Added an authenticator app",
    "mfa_totp_replaced": "Replaced the authenticator app",
    "mfa_totp_removed": "Removed the authenticator app",
    "passkey_added": "Added a passkey",
    "passkey_removed": "Removed a passkey",
    "mfa_recovery_codes": "Made new recovery codes",
    "mfa_reset": "Reset an account's second factors",
    "mfa_reencrypt": "Re-encrypted authenticator secrets",
    "article_create": "Started an article",
    "article_submit": "Sent an article for review",
    "article_publish": "Published an article",
    "article_schedule": "Scheduled an article",
    "article_unpublish": "Unpublished an article",
    "article_restore": "Restored an article revision",
    "article_import": "Imported articles",
    "image_upload": "Uploaded an image",
}


def record(
    action: str,
    *,
    user: User | None = None,
    actor: str | None = None,
    target: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(
        action=action,
        user_id=user.id if user is not None else None,
        actor=actor or (user.email if user is not None else None),
        target=target,
        detail=dict(detail or {}),
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def find(
    *,
    action: str = "",
    actor: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    per_page: int = 100,
) -> AuditPage:
    """One page of the log, newest first: by action, by who (part of the name), by clinic day."""
    clauses: list[ColumnElement[bool]] = []
    if action in ACTIONS:
        clauses.append(AuditEvent.action == action)
    if actor:
        clauses.append(func.lower(AuditEvent.actor).contains(actor.lower(), autoescape=True))
    if date_from:
        clauses.append(AuditEvent.created_at >= day_start(date_from))
    if date_to:
        clauses.append(AuditEvent.created_at < day_start(date_to + timedelta(days=1)))
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*clauses)) or 0
    page, pages = page_bounds(total, page, per_page)
    events = db.session.scalars(
        select(AuditEvent)
        .where(*clauses)
        .order_by(AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return AuditPage(list(events), total, page, pages)
