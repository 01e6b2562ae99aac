"""Health: whether this process can do its work (/healthz) and should be sent traffic
(/healthz/ready)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import EmailStatus, OutboxEmail

log = logging.getLogger(__name__)

# Schemes of the `limits` library's Redis storages (RATELIMIT_STORAGE_URI).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://", "redis+sentinel://", "redis+cluster://")


def database_reachable() -> bool:
    """One round trip to the database through the request's session (on SQLite a read
    takes no lock, so it waits behind no writer)."""
    try:
        db.session.execute(select(1))
    except SQLAlchemyError:
        return False
    return True


def oldest_waiting_email() -> datetime | None:
    """When the oldest email not yet sent (queued, or being sent) was written."""
    waiting = (EmailStatus.QUEUED, EmailStatus.SENDING)
    return db.session.scalar(
        select(func.min(OutboxEmail.created_at)).where(OutboxEmail.status.in_(waiting))
    )


def readiness_problems() -> list[str]:
    """A short reason per failed check (database, Redis when configured, mail queue age);
    empty when ready. Reasons name the part, never a URL or its password."""
    problems = []
    if not database_reachable():
        problems.append("database unreachable")
    else:
        problems += _queue_problems()
    uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if uri.startswith(REDIS_SCHEMES) and not _redis_answers():
        problems.append("redis unreachable")
    return problems


def _queue_problems() -> list[str]:
    limit = current_app.config["READY_MAX_QUEUE_AGE_SECONDS"]
    try:
        oldest = oldest_waiting_email()
    except SQLAlchemyError:
        return ["database unreachable"]
    if oldest is None:
        return []
    age = (utcnow() - oldest).total_seconds()
    if age > limit:
        return [f"oldest queued email waiting {int(age)} s (limit {limit} s)"]
    return []


def _redis_answers() -> bool:
    # A PING through the rate limits' own storage: the connection the forms depend on.
    try:
        return bool(current_app.extensions["rate_limiter"].storage.check())
    except Exception as error:  # any failure at all means "not ready"
        log.warning("readiness: redis check failed: %s", type(error).__name__)
        return False
