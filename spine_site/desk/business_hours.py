"""The clinic's business-hours clock: how long a request has waited, and when to call again.

Pure: no database, no Flask request. Every datetime in and out is aware UTC; a naive one is
refused rather than guessed at. The settings are read by hours_settings.py.

Hours are wall-clock times in the clinic's zone; each day's open and close become UTC
instants, so a DST change outside opening hours changes nothing and one inside them makes
that day an hour shorter or longer, as the staff would live it. Nothing reaches past
HORIZON_DAYS: `minutes_between` counts at most that far back, the rest raise ValueError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spine_site.desk.hours_settings import (
    DEFAULT_HOURS,
    DEFAULT_TIMEZONE,
    MINUTES_PER_DAY,
    Interval,
    normal_step,
    parse_holidays,
    parse_opening_hours,
    parse_zone,
    setting,
)

SAME_DAY_MINUTES = 120
# Far longer than a request should stay open, short enough to bound the longest walk.
HORIZON_DAYS = 4 * 366
_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)
_BEYOND_HORIZON = f"the answer lies more than {HORIZON_DAYS} days away"

Span = tuple[datetime, datetime]  # one open period in UTC, [opens, closes)

# Days at each end of a long span that are walked one by one rather than summed.
_EDGE_DAYS = 3


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
    # Running totals of open time from an anchor day ([anchor, [total before anchor+i]]), so
    # a wait of months costs two lookups, not a walk per day: a queue page asks 50 of them.
    _totals: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every walk relies on an opening coming round each week.
        if len(self.weekly) != 7 or not any(self.weekly):
            raise ValueError("weekly hours need seven days and at least one opening")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BusinessHours:
        """From CLINIC_HOURS, CLINIC_TIMEZONE, CLINIC_HOLIDAYS; a missing one takes its default."""
        return cls(
            weekly=setting(config, "CLINIC_HOURS", DEFAULT_HOURS, parse_opening_hours),
            zone=setting(config, "CLINIC_TIMEZONE", DEFAULT_TIMEZONE, parse_zone),
            holidays=setting(config, "CLINIC_HOLIDAYS", "", parse_holidays),
        )

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

    def minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole business minutes, 0 if end <= start; a start over HORIZON_DAYS back is clamped."""
        start, end = _utc(start), _utc(end)
        start = max(start, end - HORIZON_DAYS * _DAY)
        if end <= start:
            return 0
        first, last = self._local_day(start), self._local_day(end)
        if (last - first).days <= 2 * _EDGE_DAYS:
            return self._walked(start, end, first, (last - first).days + 2) // _MINUTE
        # The edge days are walked (clamped to start and end); the whole days between come
        # from the running totals. A day's periods lie within a day of its date either side,
        # so every day from first + _EDGE_DAYS to last - _EDGE_DAYS is wholly inside.
        middle = self._open_before(last - _EDGE_DAYS * _DAY) - self._open_before(
            first + _EDGE_DAYS * _DAY
        )
        head = self._walked(start, end, first, _EDGE_DAYS)
        tail = self._walked(start, end, last - _EDGE_DAYS * _DAY, _EDGE_DAYS + 2)
        return (head + middle + tail) // _MINUTE

    def _walked(self, start: datetime, end: datetime, day: date, days: int) -> timedelta:
        total = timedelta()
        for opens, closes in self._walk(day, days=days):
            if opens >= end:
                break
            total += max(timedelta(), min(closes, end) - max(opens, start))
        return total

    def _open_before(self, day: date) -> timedelta:
        """Open time on every day from the anchor up to (not including) `day`."""
        if not self._totals or day < self._totals[0]:
            # Anchor far enough back for any wait counted from now on (starts are clamped to
            # HORIZON_DAYS before their end); rebuilt only if an older day is ever asked.
            self._totals[:] = [day - HORIZON_DAYS * _DAY, [timedelta()]]
        anchor, running = self._totals
        while len(running) <= (day - anchor).days:
            spans = self._day_spans(anchor + (len(running) - 1) * _DAY)
            running.append(running[-1] + sum((c - o for o, c in spans), timedelta()))
        return running[(day - anchor).days]

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
        """When to try again after the n-th unreached attempt; None past the cadence's end.
        "same day" is two business hours later if still open that local day, else the next
        opening."""
        if attempts_without_reach < 1:
            raise ValueError("a next try follows at least one attempt that did not reach")
        if attempts_without_reach > len(cadence):
            return None
        step, after = normal_step(cadence[attempts_without_reach - 1]), _utc(after)
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
