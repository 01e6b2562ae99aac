"""The clinic's business-hours clock: how long a request has waited, and when to call again.

Pure: no database, no Flask request. Every datetime in and out is aware and in UTC (what
the app stores); a naive one is refused rather than guessed at.

Settings, read by `BusinessHours.from_config` and `cadence_from_config`:

- CLINIC_HOURS (default "Mo-Fr 08:00-17:00"): schema.org `openingHours` text, the same the
  site's JSON-LD shows. Days are Mo Tu We Th Fr Sa Su, alone, in lists ("Mo,We") or ranges
  ("Mo-Fr", "Sa-Mo" wraps); then one or more HH:MM-HH:MM ranges ("08:00-12:00,13:00-17:00",
  close may be 24:00, never past midnight). Several specs are separated by "," or ";":
  "Mo-Th 08:00-17:00, Fr 08:00-12:00". Specs naming the same day add up (the union).
- CLINIC_TIMEZONE (default "America/Chicago"): an IANA zone; the hours are its wall clock.
- CLINIC_HOLIDAYS (default none): ISO dates separated by commas, "2026-12-25,2027-01-01";
  the clinic is closed all of each.
- FOLLOW_UP_CADENCE (default "same day; next business morning; 2 business days"): when to try
  again after the 1st, 2nd, 3rd... attempt that did not reach the patient, separated by ";"
  or ","; past the last step `next_try` gives None (suggest closing as unreachable). Steps:
  "same day" (two business hours later if that is still inside the same local day's open
  time, else the next opening after the attempt), "next business morning" (the opening of
  the next business day), "N business days", "N business hours" (N a whole number >= 1).

Hours are wall-clock times in the clinic's zone: it opens when its clocks first reach the
opening time and closes when they first reach the closing time. Each day's open and close
become UTC instants, so a DST change outside opening hours changes nothing (still 9 hours)
and one inside them makes that day an hour shorter or longer, as the staff would live it.

Cost: each question walks the calendar one local day at a time, O(days spanned); no loop per
minute, and no whole-week shortcut (a week with a holiday or a DST change would need
correction terms; a step a day needs none). A day's open periods are computed once per
instance and cached, so a queue page using one instance for all its rows pays for each day
once: four years take ~12 ms cold, ~3 ms warm; a week, microseconds. Walks stop at
HORIZON_DAYS (about four years): `minutes_between` counts at most that far back; `add`,
`subtract` and the openings raise ValueError rather than walk further.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_HOURS = "Mo-Fr 08:00-17:00"
DEFAULT_TIMEZONE = "America/Chicago"
DEFAULT_CADENCE = "same day; next business morning; 2 business days"
DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MINUTES_PER_DAY = 24 * 60
SAME_DAY_MINUTES = 120
# Far longer than a request should stay open, short enough to bound the longest walk.
HORIZON_DAYS = 4 * 366
_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)
_BEYOND_HORIZON = f"the answer lies more than {HORIZON_DAYS} days away"

Interval = tuple[int, int]  # minutes after local midnight: opens, closes (up to 1440)
Span = tuple[datetime, datetime]  # one open period in UTC, [opens, closes)
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
    return tuple(_step(part) for part in re.split(r"[;,]", text) if part.strip())


def _step(text: str) -> str:
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
    return _setting(config, "FOLLOW_UP_CADENCE", DEFAULT_CADENCE, parse_cadence)


def _setting(config: Mapping[str, Any], name: str, default: object, parse: Callable[..., T]) -> T:
    """One setting parsed, a bad value refused with the setting's name in the message."""
    raw = config.get(name)
    try:
        return parse(default if raw is None else raw)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def _utc(at: datetime) -> datetime:
    # A naive datetime from a careless column would be off by the clinic's offset: refuse it.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; pass aware UTC datetimes")
    return at.astimezone(UTC)


def _count(minutes: int) -> timedelta:
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, not {minutes}")
    return minutes * _MINUTE


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours on the clinic's wall clock, its zone and its holidays."""

    weekly: tuple[tuple[Interval, ...], ...]  # Monday first, as parse_opening_hours gives
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()
    # Open periods per local day, filled as days are asked for (mutating a dict inside a
    # frozen instance is fine: the instance's value, what equality sees, never changes).
    _spans: dict[date, tuple[Span, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Every walk relies on an opening coming round each week.
        if len(self.weekly) != 7 or not any(self.weekly):
            raise ValueError("weekly hours need seven days and at least one opening")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BusinessHours:
        """From CLINIC_HOURS, CLINIC_TIMEZONE, CLINIC_HOLIDAYS; a missing one takes its default."""
        return cls(
            weekly=_setting(config, "CLINIC_HOURS", DEFAULT_HOURS, parse_opening_hours),
            zone=_setting(config, "CLINIC_TIMEZONE", DEFAULT_TIMEZONE, parse_zone),
            holidays=_setting(config, "CLINIC_HOLIDAYS", "", parse_holidays),
        )

    # -- the day's open periods in UTC ----------------------------------------------------

    def _instant(self, day: date, minute: int) -> datetime:
        """The first instant the clinic's clocks show this wall time or later."""
        if minute == MINUTES_PER_DAY:
            day, minute = day + _DAY, 0
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        # fold=0: a repeated wall time (autumn) means its first occurrence.
        instant = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == wall:
            return instant
        # The wall time was skipped (spring). The clocks first show it or later when they
        # jump; find that instant between the two readings of the skipped time (usually an
        # hour apart: a dozen halvings of whole seconds, once a year).
        before = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        low, high = 0, int((instant - before).total_seconds())
        while low < high:
            middle = (low + high) // 2
            shown = (before + timedelta(seconds=middle)).astimezone(self.zone)
            low, high = (middle + 1, high) if shown.replace(tzinfo=None) < wall else (low, middle)
        return before + timedelta(seconds=low)

    def _day_spans(self, day: date) -> tuple[Span, ...]:
        spans = self._spans.get(day)
        if spans is None:
            if day in self.holidays:
                spans = ()
            else:
                pairs = (
                    (self._instant(day, opens), self._instant(day, closes))
                    for opens, closes in self.weekly[day.weekday()]
                )
                # A period wholly inside a skipped hour has no length: no opening that day.
                spans = tuple((opens, closes) for opens, closes in pairs if closes > opens)
            if len(self._spans) > 2 * HORIZON_DAYS:  # bound a long-lived instance's memory
                self._spans.clear()
            self._spans[day] = spans
        return spans

    def _walk(self, day: date, step: int = 1, days: int = HORIZON_DAYS) -> Iterator[Span]:
        """Open periods day by day from `day`, forwards (step 1) or backwards (-1)."""
        for n in range(days):
            spans = self._day_spans(day + n * step * _DAY)
            yield from spans if step > 0 else reversed(spans)

    def _local_day(self, at: datetime) -> date:
        # A day's periods lie between the instants its clocks first show its 00:00 and the
        # next day's, so no earlier day is open after an instant showing this date. The next
        # day's may be: where clocks go back across midnight (St. John's until 2011, 00:01 ->
        # 23:01) an instant showing Saturday can follow Sunday's start. So forward walks start
        # at this date, backward ones at the next, and lookups check both.
        return at.astimezone(self.zone).date()

    # -- counting ------------------------------------------------------------------------

    def minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole business minutes, 0 if end <= start; a start over HORIZON_DAYS back is clamped."""
        start, end = _utc(start), _utc(end)
        start = max(start, end - HORIZON_DAYS * _DAY)
        if end <= start:
            return 0
        first = self._local_day(start)
        days = (self._local_day(end) - first).days + 2
        total = timedelta()
        for opens, closes in self._walk(first, days=days):
            if opens >= end:
                break
            total += max(timedelta(), min(closes, end) - max(opens, start))
        return total // _MINUTE

    def add(self, start: datetime, minutes: int) -> datetime:
        """The earliest instant `minutes` business minutes after start; may be a closing time."""
        start, remaining = _utc(start), _count(minutes)
        if not remaining:
            return start
        for opens, closes in self._walk(self._local_day(start)):
            if closes <= start:
                continue
            opens = max(opens, start)
            if closes - opens >= remaining:
                return opens + remaining
            remaining -= closes - opens
        raise ValueError(_BEYOND_HORIZON)

    def subtract(self, end: datetime, minutes: int) -> datetime:
        """The latest T with minutes_between(T, end) == minutes: an opening or inside open time."""
        end, remaining = _utc(end), _count(minutes)
        if not remaining:
            return end
        for opens, closes in self._walk(self._local_day(end) + _DAY, step=-1):
            if opens >= end:
                continue
            closes = min(closes, end)
            if closes - opens >= remaining:
                return closes - remaining
            remaining -= closes - opens
        raise ValueError(_BEYOND_HORIZON)

    # -- openings ------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Open at this instant: an opening instant is open, a closing one is not."""
        at = _utc(at)
        day = self._local_day(at)
        return any(
            opens <= at < closes
            for near in (day, day + _DAY)  # see _local_day
            for opens, closes in self._day_spans(near)
        )

    def next_opening(self, at: datetime) -> datetime:
        """At itself while open, else the start of the next open period."""
        at = _utc(at)
        for opens, closes in self._walk(self._local_day(at)):
            if closes > at:
                return max(opens, at)
        raise ValueError(_BEYOND_HORIZON)

    def _next_start_after(self, at: datetime) -> datetime:
        """The start of the first open period that begins after at (not the one at is in)."""
        for opens, _closes in self._walk(self._local_day(at)):
            if opens > at:
                return opens
        raise ValueError(_BEYOND_HORIZON)

    def business_days_later(self, at: datetime, days: int) -> datetime:
        """The opening of the `days`-th business day after at's local day (days >= 1)."""
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        day = self._local_day(_utc(at))
        for n in range(1, HORIZON_DAYS):
            spans = self._day_spans(day + n * _DAY)
            if spans:
                days -= 1
                if days == 0:
                    return spans[0][0]
        raise ValueError(_BEYOND_HORIZON)

    def next_business_morning(self, at: datetime) -> datetime:
        """The opening of the first business day after at's local day (07:00 Monday: Tuesday)."""
        return self.business_days_later(at, 1)

    def next_try(
        self, after: datetime, attempts_without_reach: int, cadence: Sequence[str]
    ) -> datetime | None:
        """When to try again after the n-th unreached attempt; None past the cadence's end."""
        if attempts_without_reach < 1:
            raise ValueError("a next try follows at least one attempt that did not reach")
        if attempts_without_reach > len(cadence):
            return None
        step, after = _step(cadence[attempts_without_reach - 1]), _utc(after)
        if step == "same day":
            later = self.add(after, SAME_DAY_MINUTES)
            if self._local_day(later) == self._local_day(after) and self.is_open(later):
                return later
            return self._next_start_after(after)
        if step == "next business morning":
            return self.next_business_morning(after)
        count, _business, unit = step.split()
        if unit.startswith("day"):
            return self.business_days_later(after, int(count))
        return self.add(after, int(count) * 60)
