"""The clinic's clock: its time zone, its days, and "now" in UTC for storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app


def utcnow() -> datetime:
    """Now, aware and in UTC: what every stored timestamp is."""
    return datetime.now(UTC)


def clinic_zone() -> ZoneInfo:
    """The clinic's time zone (CLINIC_TIMEZONE): staff dates and report days are in it."""
    return ZoneInfo(current_app.config["CLINIC_TIMEZONE"])


def clinic_today() -> date:
    return datetime.now(clinic_zone()).date()


def day_start(day: date) -> datetime:
    """The UTC instant a clinic day begins, for comparing with stored timestamps."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone()).astimezone(UTC)
