"""Reading the business-hours settings: opening hours, zone, holidays, follow-up cadence.

Each parser raises ValueError with a plain reason; `setting` adds the setting's name. The
formats are in docs/staff.md ("The intake desk"); business_hours.py uses what these return.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_HOURS = "Mo-Fr 08:00-17:00"
DEFAULT_TIMEZONE = "America/Chicago"
DEFAULT_CADENCE = "same day; next business morning; 2 business days"
DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MINUTES_PER_DAY = 24 * 60

Interval = tuple[int, int]  # minutes after local midnight: opens, closes (up to 1440)
T = TypeVar("T")

_TOKEN = re.compile(
    r"\s*(?:(?P<days>[A-Za-z]{2}(?:\s*-\s*[A-Za-z]{2})?)"
    r"|(?P<times>\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2})|[,;])"
)
_STEP = re.compile(r"(same day|next business morning|([1-9]\d*) business (day|hour)s?)")


def parse_opening_hours(text: object) -> tuple[tuple[Interval, ...], ...]:
    """Weekly hours, Monday first, each day's intervals sorted and merged."""
    if not isinstance(text, str):
        raise ValueError(f"expected text like {DEFAULT_HOURS!r}, not {text!r}")
    week: list[list[Interval]] = [[] for _ in DAY_NAMES]
    days: list[int] = []
    timed = False  # the current days already got hours, so the next day token starts a spec
    text, pos = text.strip(), 0
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            raise ValueError(f"cannot read {text[pos:]!r} in {text!r} (form: {DEFAULT_HOURS!r})")
        pos = token.end()
        if token["days"]:
            days, timed = (days if not timed else []) + _day_range(token["days"]), False
        elif token["times"]:
            if not days:
                raise ValueError(f"{token['times']!r} has no days before it in {text!r}")
            for day in days:
                week[day].append(_time_range(token["times"]))
            timed = True
    if days and not timed:
        raise ValueError(f"days without hours in {text!r} (form: {DEFAULT_HOURS!r})")
    merged = tuple(_merge(intervals) for intervals in week)
    if not any(merged):
        raise ValueError(f"no opening hours in {text!r} (form: {DEFAULT_HOURS!r})")
    return merged


def _day_range(text: str) -> list[int]:
    first, _, last = (part.strip().capitalize() for part in text.partition("-"))
    for name in (first, last or first):
        if name not in DAY_NAMES:
            raise ValueError(f"{name!r} is not a day; use {' '.join(DAY_NAMES)}")
    start, stop = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
    return [(start + n) % 7 for n in range((stop - start) % 7 + 1)]  # "Sa-Mo" wraps


def _time_range(text: str) -> Interval:
    opens, closes = (_minutes(part.strip()) for part in text.split("-"))
    if not opens < closes:
        raise ValueError(f"{text!r} closes before it opens (hours past midnight are not supported)")
    if opens == MINUTES_PER_DAY:
        raise ValueError(f"{text!r} opens at 24:00")
    return opens, closes


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours * 60 + minutes > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)


def parse_zone(name: object) -> ZoneInfo:
    """The IANA zone named, e.g. "America/Chicago" (tzdata ships with the app)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"expected an IANA time zone like {DEFAULT_TIMEZONE!r}, not {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone") from None


def parse_holidays(value: object) -> frozenset[date]:
    """Dates from "2026-12-25,2027-01-01" (commas or spaces), or from an iterable of dates."""
    if isinstance(value, str):
        items: Iterable[object] = (part for part in re.split(r"[,;\s]+", value) if part)
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"expected dates like '2026-12-25,2027-01-01', not {value!r}")
    found = set()
    for item in items:
        if isinstance(item, date) and not isinstance(item, datetime):
            found.add(item)
            continue
        try:
            found.add(date.fromisoformat(str(item)))
        except ValueError:
            raise ValueError(f"{item!r} is not a date like 2026-12-25") from None
    return frozenset(found)


def parse_cadence(text: object) -> tuple[str, ...]:
    """Follow-up steps, normalised ("2 business days"); empty text means no follow-ups."""
    if not isinstance(text, str):
        raise ValueError(f"expected text like {DEFAULT_CADENCE!r}, not {text!r}")
    return tuple(normal_step(part) for part in re.split(r"[;,]", text) if part.strip())


def normal_step(text: str) -> str:
    words = " ".join(text.lower().split())
    found = _STEP.fullmatch(words)
    if found is None:
        raise ValueError(
            f"{text.strip()!r} is not a step; use 'same day', 'next business morning', "
            "'N business days' or 'N business hours'"
        )
    if found[2]:
        return f"{found[2]} business {found[3]}{'' if found[2] == '1' else 's'}"
    return words


def cadence_from_config(config: Mapping[str, Any]) -> tuple[str, ...]:
    """FOLLOW_UP_CADENCE parsed (the default when missing); a bad one names the setting."""
    return setting(config, "FOLLOW_UP_CADENCE", DEFAULT_CADENCE, parse_cadence)


def setting(config: Mapping[str, Any], name: str, default: object, parse: Callable[..., T]) -> T:
    """One setting parsed, a bad value refused with the setting's name in the message."""
    raw = config.get(name)
    try:
        return parse(default if raw is None else raw)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
