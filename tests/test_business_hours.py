"""The business-hours clock: how long a patient's request has waited, and when to call again.

Times are written on the clinic's wall clock (`at("2026-05-15 16:50")`) and turned into the
UTC instants the app stores, so each test reads like the desk's day. 2026-05-15 is a Friday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine_site.desk.business_hours import HORIZON_DAYS, BusinessHours
from spine_site.desk.hours_settings import (
    DEFAULT_CADENCE,
    cadence_from_config,
    parse_cadence,
    parse_opening_hours,
)

CHICAGO = "America/Chicago"
LABOR_DAY = "2026-09-07"  # a Monday


def clinic(
    hours: str = "Mo-Fr 08:00-17:00", zone: str = CHICAGO, holidays: str = ""
) -> BusinessHours:
    return BusinessHours.from_config(
        {"CLINIC_HOURS": hours, "CLINIC_TIMEZONE": zone, "CLINIC_HOLIDAYS": holidays}
    )


def at(wall: str, zone: str = CHICAGO) -> datetime:
    """A wall-clock time in the clinic's zone, as the UTC instant the app stores."""
    return datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- reading the settings ----------------------------------------------------------------


def test_the_default_week_is_monday_to_friday_eight_to_five():
    week = parse_opening_hours("Mo-Fr 08:00-17:00")
    assert week == (((480, 1020),),) * 5 + ((), ())


@pytest.mark.parametrize(
    "text",
    [
        "Mo-Th 08:00-17:00, Fr 08:00-12:00, Sa 09:00-12:00",
        "Mo-Th 08:00-17:00; Fr 08:00-12:00; Sa 09:00-12:00",
        "mo-th 08:00-17:00 ;fr 8:00-12:00,Sa 09:00 - 12:00",
    ],
)
def test_several_specs_a_week_separated_by_commas_or_semicolons(text):
    week = parse_opening_hours(text)
    assert week[:4] == (((480, 1020),),) * 4
    assert week[4:] == (((480, 720),), ((540, 720),), ())


def test_day_lists_wrapping_ranges_split_days_and_midnight_closing():
    assert parse_opening_hours("Mo,We,Fr 09:00-12:00")[:3] == (((540, 720),), (), ((540, 720),))
    assert parse_opening_hours("Sa-Mo 10:00-14:00") == (
        ((600, 840),),
        *((),) * 4,
        ((600, 840),),
        ((600, 840),),
    )
    assert parse_opening_hours("Mo 08:00-12:00,13:00-17:00")[0] == ((480, 720), (780, 1020))
    assert parse_opening_hours("Fr 20:00-24:00")[4] == ((1200, 1440),)


def test_specs_naming_the_same_day_add_up():
    week = parse_opening_hours("Mo-Fr 08:00-17:00; Fr 16:00-18:00, Fr 07:00-08:00")
    assert week[4] == ((420, 1080),)


def test_from_config_reads_the_three_settings():
    hours = BusinessHours.from_config(
        {
            "CLINIC_HOURS": "Mo-Th 08:00-17:00, Fr 08:00-12:00",
            "CLINIC_TIMEZONE": "Europe/London",
            "CLINIC_HOLIDAYS": "2026-12-25, 2027-01-01",
        }
    )
    assert hours.weekly[4] == ((480, 720),)
    assert hours.zone == ZoneInfo("Europe/London")
    assert hours.holidays == {date(2026, 12, 25), date(2027, 1, 1)}


def test_missing_settings_take_the_defaults_and_no_holidays():
    hours = BusinessHours.from_config({"CLINIC_HOLIDAYS": None})
    assert hours == clinic("Mo-Fr 08:00-17:00", CHICAGO, "")
    assert hours.holidays == frozenset()
    assert hash(hours) == hash(clinic())  # frozen: usable as a cache key


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("CLINIC_HOURS", "Mo-Fr"),
        ("CLINIC_HOURS", "Mo-Fr 8-17"),
        ("CLINIC_HOURS", "Xx 08:00-17:00"),
        ("CLINIC_HOURS", "Mon-Fri 08:00-17:00"),
        ("CLINIC_HOURS", "08:00-17:00"),
        ("CLINIC_HOURS", "Mo 17:00-08:00"),
        ("CLINIC_HOURS", "Mo 22:00-02:00"),
        ("CLINIC_HOURS", "Mo 08:00-25:00"),
        ("CLINIC_HOURS", "Mo 08:61-09:00"),
        ("CLINIC_HOURS", ""),
        ("CLINIC_HOURS", 9),
        ("CLINIC_TIMEZONE", "Mars/Olympus"),
        ("CLINIC_TIMEZONE", "../../etc/passwd"),
        ("CLINIC_TIMEZONE", ""),
        ("CLINIC_HOLIDAYS", "2026-13-01"),
        ("CLINIC_HOLIDAYS", "christmas"),
        ("CLINIC_HOLIDAYS", 2026),
        ("FOLLOW_UP_CADENCE", "tomorrow"),
        ("FOLLOW_UP_CADENCE", "same day; 0 business days"),
        ("FOLLOW_UP_CADENCE", "2 weeks"),
        ("FOLLOW_UP_CADENCE", 3),
    ],
)
def test_a_bad_setting_is_refused_by_name(setting, value):
    read = cadence_from_config if setting == "FOLLOW_UP_CADENCE" else BusinessHours.from_config
    with pytest.raises(ValueError, match=f"^{setting}: "):
        read({setting: value})


def test_naive_datetimes_and_negative_counts_are_refused():
    hours = clinic()
    with pytest.raises(ValueError, match="time zone"):
        hours.minutes_between(datetime(2026, 5, 15, 9), utc("2026-05-15 20:00"))
    with pytest.raises(ValueError, match="negative"):
        hours.add(utc("2026-05-15 20:00"), -1)


# -- counting waiting time ---------------------------------------------------------------


def test_a_friday_evening_request_waits_ten_minutes_then_mondays():
    assert clinic().minutes_between(at("2026-05-15 16:50"), at("2026-05-18 09:00")) == 10 + 60


def test_weekends_and_evenings_do_not_count():
    hours = clinic()
    assert hours.minutes_between(at("2026-05-16 10:00"), at("2026-05-17 18:00")) == 0
    assert hours.minutes_between(at("2026-05-15 12:00"), at("2026-05-18 12:00")) == 300 + 240
    assert hours.minutes_between(at("2026-05-18 17:30"), at("2026-05-19 07:59")) == 0


def test_a_holiday_monday_is_closed_all_day():
    start, end = at("2026-09-04 16:50"), at("2026-09-08 09:00")
    assert clinic(holidays=LABOR_DAY).minutes_between(start, end) == 10 + 60
    assert clinic().minutes_between(start, end) == 10 + 540 + 60


def test_before_opening_counts_from_the_opening():
    hours = clinic()
    assert hours.minutes_between(at("2026-05-18 07:00"), at("2026-05-18 08:30")) == 30
    assert hours.minutes_between(at("2026-05-18 06:00"), at("2026-05-18 07:59")) == 0


def test_the_open_and_close_boundaries():
    hours = clinic()
    assert hours.minutes_between(at("2026-05-18 08:00"), at("2026-05-18 17:00")) == 540
    assert hours.minutes_between(at("2026-05-18 17:00"), at("2026-05-19 08:00")) == 0
    assert hours.minutes_between(at("2026-05-18 16:59"), at("2026-05-19 08:01")) == 2
    assert hours.minutes_between(at("2026-05-18 09:00"), at("2026-05-18 09:00")) == 0
    assert hours.minutes_between(at("2026-05-18 10:00"), at("2026-05-18 09:00")) == 0


def test_part_minutes_are_not_rounded_up():
    hours = clinic()
    assert hours.minutes_between(at("2026-05-18 08:00:00"), at("2026-05-18 08:00:59")) == 0
    assert hours.minutes_between(at("2026-05-18 08:00:30"), at("2026-05-18 08:02:00")) == 1


def test_several_specs_make_the_week():
    hours = clinic("Mo-Th 08:00-17:00, Fr 08:00-12:00; Sa 09:00-12:00")
    assert (
        hours.minutes_between(at("2026-05-11 00:00"), at("2026-05-18 00:00")) == 4 * 540 + 240 + 180
    )
    assert hours.minutes_between(at("2026-05-15 11:00"), at("2026-05-16 10:00")) == 60 + 60


def test_a_whole_year_counts_every_weekday_but_the_holiday():
    weekdays = sum(1 for n in range(365) if (date(2027, 1, 1) + timedelta(n)).weekday() < 5)
    hours = clinic(holidays="2027-01-01")
    minutes = hours.minutes_between(at("2027-01-01 00:00"), at("2028-01-01 00:00"))
    assert minutes == (weekdays - 1) * 540


def test_a_start_beyond_the_horizon_counts_as_the_horizon():
    hours, end = clinic(), at("2026-05-18 12:00")
    horizon = hours.minutes_between(end - timedelta(days=HORIZON_DAYS), end)
    assert hours.minutes_between(end - timedelta(days=20 * 365), end) == horizon
    with pytest.raises(ValueError, match="days away"):
        hours.add(end, 100_000_000)
    with pytest.raises(ValueError, match="days away"):
        hours.subtract(end, 100_000_000)


# -- daylight saving time ----------------------------------------------------------------


def test_spring_forward_in_chicago_keeps_the_working_day_nine_hours():
    # 2026-03-08 (a Sunday) the clocks jump; Monday's 08:00 is an hour earlier in UTC.
    hours = clinic()
    assert at("2026-03-06 08:00") == utc("2026-03-06 14:00")
    assert at("2026-03-09 08:00") == utc("2026-03-09 13:00")
    assert hours.minutes_between(at("2026-03-06 08:00"), at("2026-03-09 17:00")) == 1080
    assert hours.minutes_between(utc("2026-03-09 13:00"), utc("2026-03-09 22:00")) == 540


def test_fall_back_in_chicago_keeps_the_working_day_nine_hours():
    hours = clinic()
    assert hours.minutes_between(at("2026-10-30 08:00"), at("2026-11-02 17:00")) == 1080
    assert hours.minutes_between(utc("2026-11-02 14:00"), utc("2026-11-02 23:00")) == 540


def test_london_changes_on_other_sundays_and_its_sunday_is_eight_hours_long():
    # Open seven days: the 23-hour and 25-hour Sundays still hold 8 hours of opening.
    hours = clinic("Mo-Su 09:00-17:00", "Europe/London")
    assert (
        hours.minutes_between(at("2026-03-29 00:00", "Europe/London"), utc("2026-03-30 00:00"))
        == 480
    )
    assert hours.minutes_between(utc("2026-10-25 00:00"), utc("2026-10-26 00:00")) == 480
    assert hours.next_opening(utc("2026-03-29 00:00")) == utc("2026-03-29 08:00")
    weekdays = clinic("Mo-Fr 09:00-17:00", "Europe/London")
    assert weekdays.minutes_between(utc("2026-03-27 16:00"), utc("2026-03-30 09:00")) == 60 + 60


def test_a_jump_inside_opening_hours_shortens_or_lengthens_that_day():
    # Open 01:00-03:00 every day: the spring night loses its 02:00 hour, the autumn night
    # lives 01:00-02:00 twice. US changes fall on Sundays, hence Mo-Su here.
    hours = clinic("Mo-Su 01:00-03:00")

    def day(text: str) -> int:
        start = at(f"{text} 00:00")
        return hours.minutes_between(start, start + timedelta(hours=12))

    assert (day("2026-03-07"), day("2026-03-08"), day("2026-03-09")) == (120, 60, 120)
    assert (day("2026-10-31"), day("2026-11-01"), day("2026-11-02")) == (120, 180, 120)
    assert hours.is_open(utc("2026-03-08 07:59")) and not hours.is_open(utc("2026-03-08 08:00"))
    assert hours.is_open(utc("2026-11-01 08:59")) and not hours.is_open(utc("2026-11-01 09:00"))


def test_mo_fr_01_to_03_where_the_jump_falls_on_a_friday():
    # Israel moves its clocks on the Friday before the last Sunday of March, 02:00 -> 03:00.
    hours = clinic("Mo-Fr 01:00-03:00", "Asia/Jerusalem")
    thursday, friday = utc("2026-03-25 22:00"), utc("2026-03-26 22:00")  # local midnights
    assert hours.minutes_between(thursday, friday) == 120
    assert hours.minutes_between(friday, friday + timedelta(hours=12)) == 60


def test_an_opening_time_the_clocks_skip_opens_when_they_jump():
    # 02:30 never shows on 2026-03-08 in Chicago; the clinic opens at 03:00 CDT instead.
    hours = clinic("Su 02:30-04:00")
    assert hours.next_opening(at("2026-03-08 00:00")) == at("2026-03-08 03:00")
    assert hours.minutes_between(at("2026-03-08 00:00"), at("2026-03-09 00:00")) == 60
    assert hours.minutes_between(at("2026-03-15 00:00"), at("2026-03-16 00:00")) == 90


def test_clocks_going_back_across_midnight_keep_sundays_opening():
    # St. John's, 2010-11-07: at 00:01 on Sunday the clocks went back to 23:01 on Saturday.
    # Sunday's opening came first (00:00 NDT = 02:30 UTC); instants after it show Saturday.
    zone = "America/St_Johns"
    hours = clinic("Sa 22:00-24:00, Su 00:00-01:00", zone)
    assert at("2010-11-07 00:00", zone) == utc("2010-11-07 02:30")
    assert hours.is_open(utc("2010-11-07 02:45"))  # shows Saturday 23:15
    assert hours.minutes_between(utc("2010-11-07 00:30"), utc("2010-11-07 04:30")) == 240
    assert hours.minutes_between(utc("2010-11-07 02:00"), utc("2010-11-07 02:45")) == 45
    assert hours.subtract(utc("2010-11-07 02:45"), 10) == utc("2010-11-07 02:35")
    assert hours.next_opening(utc("2010-11-07 04:30")) == utc("2010-11-14 01:30")


# -- openings ----------------------------------------------------------------------------


def test_is_open_at_the_edges():
    hours = clinic(holidays=LABOR_DAY)
    assert hours.is_open(at("2026-05-18 08:00"))
    assert hours.is_open(at("2026-05-18 16:59:59"))
    assert not hours.is_open(at("2026-05-18 17:00"))
    assert not hours.is_open(at("2026-05-18 07:59:59"))
    assert not hours.is_open(at("2026-05-16 12:00"))
    assert not hours.is_open(at("2026-09-07 12:00"))


def test_next_opening():
    hours = clinic(holidays=LABOR_DAY)
    assert hours.next_opening(at("2026-05-18 10:15")) == at("2026-05-18 10:15")
    assert hours.next_opening(at("2026-05-15 17:00")) == at("2026-05-18 08:00")
    assert hours.next_opening(at("2026-05-18 06:00")) == at("2026-05-18 08:00")
    assert hours.next_opening(at("2026-09-05 12:00")) == at("2026-09-08 08:00")
    assert hours.next_opening(at("2026-05-18 10:15")).tzinfo is UTC


def test_next_business_morning_skips_weekends_and_holidays():
    hours = clinic(holidays=f"{LABOR_DAY},2026-12-25")
    assert hours.next_business_morning(at("2026-05-15 10:00")) == at("2026-05-18 08:00")
    assert hours.next_business_morning(at("2026-05-16 10:00")) == at("2026-05-18 08:00")
    assert hours.next_business_morning(at("2026-05-17 23:00")) == at("2026-05-18 08:00")
    # The day after at's own day, even when at is before that day's opening.
    assert hours.next_business_morning(at("2026-05-18 07:00")) == at("2026-05-19 08:00")
    assert hours.next_business_morning(at("2026-09-04 16:00")) == at("2026-09-08 08:00")
    assert hours.next_business_morning(at("2026-12-24 12:00")) == at("2026-12-28 08:00")
    assert hours.next_business_morning(at("2026-03-06 12:00")) == utc("2026-03-09 13:00")


def test_business_days_later():
    hours = clinic(holidays=LABOR_DAY)
    friday = at("2026-05-15 16:00")
    assert hours.business_days_later(friday, 1) == at("2026-05-18 08:00")
    assert hours.business_days_later(friday, 2) == at("2026-05-19 08:00")
    assert hours.business_days_later(friday, 5) == at("2026-05-22 08:00")
    assert hours.business_days_later(at("2026-09-04 10:00"), 2) == at("2026-09-09 08:00")
    with pytest.raises(ValueError):
        hours.business_days_later(friday, 0)


# -- add and subtract --------------------------------------------------------------------


def test_overdue_cutoff_goes_back_over_the_weekend_and_holiday():
    # "Overdue after 60 business minutes" at Monday 08:30 means created before Friday 16:30.
    assert clinic().subtract(at("2026-05-18 08:30"), 60) == at("2026-05-15 16:30")
    assert clinic(holidays=LABOR_DAY).subtract(at("2026-09-08 08:30"), 60) == at("2026-09-04 16:30")


def test_subtract_gives_the_latest_instant_and_add_the_earliest():
    hours = clinic()
    assert hours.subtract(at("2026-05-18 09:00"), 60) == at("2026-05-18 08:00")  # not Fri 17:00
    assert hours.subtract(at("2026-05-16 12:00"), 0) == at("2026-05-16 12:00")
    assert hours.add(at("2026-05-15 16:30"), 30) == at("2026-05-15 17:00")  # not Mon 08:00
    assert hours.add(at("2026-05-15 16:30"), 31) == at("2026-05-18 08:01")
    assert hours.add(at("2026-05-16 12:00"), 0) == at("2026-05-16 12:00")
    assert hours.add(at("2026-05-16 12:00"), 1) == at("2026-05-18 08:01")


class Case(NamedTuple):
    hours: str
    zone: str
    holidays: str
    table: dict[int, list[tuple[int, int]]]  # weekday -> minutes, written out by hand


CASES = [
    Case(
        "Mo-Fr 08:00-17:00", CHICAGO, "2026-09-07,2026-11-02", {d: [(480, 1020)] for d in range(5)}
    ),
    Case("Mo-Su 01:00-03:00", CHICAGO, "", {d: [(60, 180)] for d in range(7)}),
    Case(
        "Su 02:30-04:00, Mo-Fr 00:00-01:30; Sa 20:00-24:00",
        CHICAGO,
        "",
        {6: [(150, 240)], 5: [(1200, 1440)]} | {d: [(0, 90)] for d in range(5)},
    ),
    Case(
        "Mo-Fr 08:00-12:00,13:00-17:00; Sa-Su 00:30-01:30",
        "Europe/London",
        "2026-12-25",
        {d: [(480, 720), (780, 1020)] for d in range(5)} | {5: [(30, 90)], 6: [(30, 90)]},
    ),
    Case("Mo-Fr 01:00-03:00", "Asia/Jerusalem", "", {d: [(60, 180)] for d in range(5)}),
    Case(
        "Sa 22:00-24:00, Su 00:00-01:00",
        "America/St_Johns",
        "",
        {5: [(1320, 1440)], 6: [(0, 60)]},
    ),
    Case(
        "Mo-Th 08:00-17:00, Fr 08:00-12:00; Sa 09:00-12:00",
        CHICAGO,
        "2026-12-25",
        {d: [(480, 1020)] for d in range(4)} | {4: [(480, 720)], 5: [(540, 720)]},
    ),
]
# Clock changes in the zones above, and a holiday or two, to draw times near.
ANCHORS = [
    utc(text)
    for text in (
        "2026-03-08 08:00",
        "2026-11-01 07:00",
        "2026-03-29 01:00",
        "2026-10-25 01:00",
        "2026-03-27 00:00",
        "2026-10-24 23:00",
        "2026-09-07 12:00",
        "2026-12-25 12:00",
        "2026-05-15 22:00",
        "2010-11-07 02:30",
    )
]
MINUTE = timedelta(minutes=1)


def oracle_minutes(case: Case, start: datetime, end: datetime) -> int:
    """Minute by minute, from the definition: the clinic opens when its clocks first reach
    the opening time and closes when they first reach the closing time. So the time to
    compare is the latest the clocks have shown: an hour they repeat counts as passed."""
    zone, holidays = ZoneInfo(case.zone), case.holidays.split(",")
    moment, latest, count = start - timedelta(hours=3), datetime.min, 0
    while moment < end:
        latest = max(latest, moment.astimezone(zone).replace(tzinfo=None))
        minute = latest.hour * 60 + latest.minute
        is_open = latest.date().isoformat() not in holidays and any(
            opens <= minute < closes for opens, closes in case.table.get(latest.weekday(), [])
        )
        count += moment >= start and is_open
        moment += MINUTE
    return count


def near_a_change() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda anchor, minutes, seconds: anchor + minutes * MINUTE + timedelta(seconds=seconds),
        st.sampled_from(ANCHORS),
        st.integers(-4 * 1440, 4 * 1440),
        st.floats(0, 59.999),
    )


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(CASES), st.sampled_from(ANCHORS), st.integers(-2880, 1440), st.integers(0, 2880)
)
def test_counting_matches_a_minute_by_minute_count(case, anchor, offset, length):
    start = anchor + offset * MINUTE
    hours = clinic(case.hours, case.zone, case.holidays)
    assert hours.minutes_between(start, start + length * MINUTE) == oracle_minutes(
        case, start, start + length * MINUTE
    )
    assert hours.is_open(start) == (oracle_minutes(case, start, start + MINUTE) == 1)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), near_a_change(), st.integers(0, 20_000))
def test_subtract_is_the_inverse_of_counting(case, end, minutes):
    hours = clinic(case.hours, case.zone, case.holidays)
    start = hours.subtract(end, minutes)
    assert start <= end and start.tzinfo is UTC
    assert hours.minutes_between(start, end) == minutes
    if minutes:  # the latest such instant: a second later, a minute is missing
        assert hours.is_open(start)
        assert hours.minutes_between(start + timedelta(seconds=1), end) == minutes - 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), near_a_change(), near_a_change(), st.integers(1, 600))
def test_the_overdue_cutoff_agrees_with_the_waiting_time_shown(case, created, now, target):
    # The queue filters with `created_at <= subtract(now, target)` in SQL and shows
    # minutes_between(created_at, now): the two must agree on every lead.
    hours = clinic(case.hours, case.zone, case.holidays)
    cutoff = hours.subtract(now, target)
    assert (created <= cutoff) == (hours.minutes_between(created, now) >= target)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), near_a_change(), st.integers(0, 20_000))
def test_add_is_the_inverse_of_counting(case, start, minutes):
    hours = clinic(case.hours, case.zone, case.holidays)
    end = hours.add(start, minutes)
    assert end >= start and end.tzinfo is UTC
    assert hours.minutes_between(start, end) == minutes
    if minutes:  # the earliest such instant
        assert hours.minutes_between(start, end - timedelta(seconds=1)) == minutes - 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CASES), near_a_change())
def test_next_opening_is_open_with_nothing_open_before_it(case, moment):
    hours = clinic(case.hours, case.zone, case.holidays)
    opening = hours.next_opening(moment)
    assert opening >= moment and hours.is_open(opening)
    assert hours.minutes_between(moment, opening) == 0
    assert (opening == moment) == hours.is_open(moment)


# -- the follow-up cadence ---------------------------------------------------------------


def test_the_cadence_setting():
    default = ("same day", "next business morning", "2 business days")
    assert parse_cadence(DEFAULT_CADENCE) == default
    assert cadence_from_config({}) == default
    assert cadence_from_config({"FOLLOW_UP_CADENCE": "1 business day"}) == ("1 business day",)
    assert parse_cadence(
        " Same  Day , next business morning;1 business days; 3 BUSINESS HOURS "
    ) == (
        "same day",
        "next business morning",
        "1 business day",
        "3 business hours",
    )
    assert parse_cadence("") == ()


def test_the_default_cadence_step_by_step_then_none():
    hours, cadence = clinic(holidays=LABOR_DAY), parse_cadence(DEFAULT_CADENCE)
    tuesday = at("2026-05-12 10:00")
    assert hours.next_try(tuesday, 1, cadence) == at("2026-05-12 12:00")
    assert hours.next_try(tuesday, 2, cadence) == at("2026-05-13 08:00")
    assert hours.next_try(tuesday, 3, cadence) == at("2026-05-14 08:00")
    assert hours.next_try(tuesday, 4, cadence) is None
    assert hours.next_try(tuesday, 9, cadence) is None
    with pytest.raises(ValueError):
        hours.next_try(tuesday, 0, cadence)
    friday = at("2026-09-04 10:00")  # Monday is Labor Day
    assert hours.next_try(friday, 2, cadence) == at("2026-09-08 08:00")
    assert hours.next_try(friday, 3, cadence) == at("2026-09-09 08:00")


def test_same_day_stays_inside_the_day_or_waits_for_the_next_opening():
    hours, cadence = clinic(), parse_cadence(DEFAULT_CADENCE)
    assert hours.next_try(at("2026-05-12 14:59"), 1, cadence) == at("2026-05-12 16:59")
    # 15:00 + 2 business hours is closing time: nobody would answer, so the next morning.
    assert hours.next_try(at("2026-05-12 15:00"), 1, cadence) == at("2026-05-13 08:00")
    assert hours.next_try(at("2026-05-15 16:00"), 1, cadence) == at("2026-05-18 08:00")
    assert hours.next_try(at("2026-05-16 10:00"), 1, cadence) == at("2026-05-18 08:00")
    assert hours.next_try(at("2026-05-12 07:00"), 1, cadence) == at("2026-05-12 10:00")
    lunch = clinic("Mo-Fr 08:00-12:00,13:00-17:00")
    assert lunch.next_try(at("2026-05-12 11:30"), 1, cadence) == at("2026-05-12 14:30")
    short_afternoon = clinic("Mo-Fr 08:00-12:00,13:00-14:00")
    assert short_afternoon.next_try(at("2026-05-12 11:30"), 1, cadence) == at("2026-05-12 13:00")


def test_business_hours_and_days_steps():
    hours = clinic()
    cadence = parse_cadence("3 business hours; 1 business day")
    assert hours.next_try(at("2026-05-15 16:00"), 1, cadence) == at("2026-05-18 10:00")
    assert hours.next_try(at("2026-05-15 16:00"), 2, cadence) == at("2026-05-18 08:00")
    assert hours.next_try(at("2026-05-15 16:00"), 3, cadence) is None
    assert hours.next_try(at("2026-05-15 16:00"), 1, ()) is None
