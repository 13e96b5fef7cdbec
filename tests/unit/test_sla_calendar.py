"""Operating hours and dates off, on the local calendar (SLA-SEMANTICS §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.calendar import OperatingHours, from_ms, operating_intervals, to_ms
from app.sla.intervals import IntervalSet
from app.sla.periods import month

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3_600_000
DAY = 24 * HOUR
WEEKDAYS_0830_2100 = OperatingHours(weekly={weekday: ((510, 1260),) for weekday in range(5)})
NEW_YEAR_OFF = OperatingHours(dates_off=(((12, 29), (1, 3)),))


def local_ms(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> int:
    return to_ms(datetime(year, month, day, hour, minute, tzinfo=zone))


def test_always_is_the_whole_window() -> None:
    assert operating_intervals(OperatingHours(), 0, DAY, TOKYO) == IntervalSet.span(0, DAY)
    assert operating_intervals(OperatingHours(), DAY, 0, TOKYO) == IntervalSet()


def test_weekly_hours_are_local_time() -> None:
    # Monday 2026-10-05 to Monday 2026-10-12, JST.
    start, end = local_ms(TOKYO, 2026, 10, 5), local_ms(TOKYO, 2026, 10, 12)
    operating = operating_intervals(WEEKDAYS_0830_2100, start, end, TOKYO)
    assert len(operating) == 5
    assert operating.measure() == 5 * (12 * HOUR + HOUR // 2)
    # 08:30 JST on Monday is 23:30 UTC on Sunday.
    assert from_ms(operating.intervals[0][0]).isoformat() == "2026-10-04T23:30:00+00:00"
    assert operating.intervals[0] == (
        local_ms(TOKYO, 2026, 10, 5, 8, 30),
        local_ms(TOKYO, 2026, 10, 5, 21, 0),
    )


def test_window_edges_clip_a_day_of_hours() -> None:
    start = local_ms(TOKYO, 2026, 10, 5, 12)
    end = local_ms(TOKYO, 2026, 10, 6, 9)
    operating = operating_intervals(WEEKDAYS_0830_2100, start, end, TOKYO)
    assert operating.measure() == 9 * HOUR + HOUR // 2


def test_dates_off_wrapping_the_year_end() -> None:
    december, january = month(2026, 12, "Asia/Tokyo"), month(2027, 1, "Asia/Tokyo")
    off_december = operating_intervals(NEW_YEAR_OFF, december.start_ms, december.end_ms, TOKYO)
    off_january = operating_intervals(NEW_YEAR_OFF, january.start_ms, january.end_ms, TOKYO)
    assert off_december == IntervalSet.span(december.start_ms, local_ms(TOKYO, 2026, 12, 29))
    assert off_january == IntervalSet.span(local_ms(TOKYO, 2027, 1, 4), january.end_ms)
    assert off_december.measure() == 28 * DAY
    assert off_january.measure() == 28 * DAY


def test_dates_off_override_weekly_hours() -> None:
    hours = OperatingHours(
        weekly=WEEKDAYS_0830_2100.weekly, dates_off=(((12, 29), (1, 3)), ((5, 3), (5, 5)))
    )
    # 2027-01-04 is a Monday: the first working day after the new year holidays.
    start, end = local_ms(TOKYO, 2026, 12, 28), local_ms(TOKYO, 2027, 1, 5)
    operating = operating_intervals(hours, start, end, TOKYO)
    assert operating == IntervalSet(
        [
            (local_ms(TOKYO, 2026, 12, 28, 8, 30), local_ms(TOKYO, 2026, 12, 28, 21)),
            (local_ms(TOKYO, 2027, 1, 4, 8, 30), local_ms(TOKYO, 2027, 1, 4, 21)),
        ]
    )


def test_whole_days_across_dst_in_berlin() -> None:
    every_day = OperatingHours(weekly={weekday: ((0, 1440),) for weekday in range(7)})
    spring_start, spring_end = local_ms(BERLIN, 2026, 3, 29), local_ms(BERLIN, 2026, 3, 30)
    autumn_start, autumn_end = local_ms(BERLIN, 2026, 10, 25), local_ms(BERLIN, 2026, 10, 26)
    wide_spring = operating_intervals(every_day, spring_start - DAY, spring_end + DAY, BERLIN)
    assert wide_spring.clip(spring_start, spring_end).measure() == 23 * HOUR
    wide_autumn = operating_intervals(every_day, autumn_start - DAY, autumn_end + DAY, BERLIN)
    assert wide_autumn.clip(autumn_start, autumn_end).measure() == 25 * HOUR
    # A date off is the whole local day, 23 hours on the spring-forward Sunday.
    day_off = OperatingHours(dates_off=(((3, 29), (3, 29)),))
    operating = operating_intervals(day_off, spring_start - DAY, spring_end + DAY, BERLIN)
    assert operating.measure() == 2 * DAY


def test_weekly_hours_across_the_dst_jump() -> None:
    # Sunday 01:00-04:00 local on the spring-forward night is 2 real hours (02:00 is skipped).
    night = OperatingHours(weekly={6: ((60, 240),)})
    start, end = local_ms(BERLIN, 2026, 3, 29), local_ms(BERLIN, 2026, 3, 30)
    operating = operating_intervals(night, start, end, BERLIN)
    assert operating.measure() == 2 * HOUR
    assert from_ms(operating.intervals[0][0]).isoformat() == "2026-03-29T00:00:00+00:00"


def test_leap_day_off_only_in_leap_years() -> None:
    leap_day_off = OperatingHours(dates_off=(((2, 29), (2, 29)),))
    leap, common = month(2028, 2, "Asia/Tokyo"), month(2027, 2, "Asia/Tokyo")
    assert operating_intervals(leap_day_off, leap.start_ms, leap.end_ms, TOKYO).measure() == (
        28 * DAY
    )
    assert operating_intervals(leap_day_off, common.start_ms, common.end_ms, TOKYO).measure() == (
        28 * DAY
    )


# -- the one ms <-> datetime conversion ---------------------------------------------------


@settings(max_examples=200)
@given(st.integers(to_ms(datetime(1, 1, 2, tzinfo=UTC)), to_ms(datetime(9999, 12, 30, tzinfo=UTC))))
def test_ms_and_datetimes_round_trip_exactly(at_ms: int) -> None:
    assert to_ms(from_ms(at_ms)) == at_ms
    assert to_ms(from_ms(at_ms, TOKYO)) == at_ms
    assert from_ms(at_ms).tzinfo is UTC
    assert from_ms(at_ms, TOKYO).utcoffset() == from_ms(at_ms).astimezone(TOKYO).utcoffset()


def test_to_ms_floors_sub_millisecond_parts_and_refuses_naive_datetimes() -> None:
    assert to_ms(datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 0
    assert to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    with pytest.raises(ValueError, match="naive datetime"):
        to_ms(datetime(2026, 10, 1))


def test_from_ms_beyond_the_calendar_is_a_clear_value_error() -> None:
    last_instant = to_ms(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))
    assert from_ms(last_instant).year == 9999
    for at_ms in (last_instant + 1, 10**18, -(10**18)):
        with pytest.raises(ValueError, match="outside the years 1 to 9999"):
            from_ms(at_ms)
    # 9999-12-31 20:00 UTC exists, but not in Tokyo (it would be year 10000 there).
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        from_ms(to_ms(datetime(9999, 12, 31, 20, tzinfo=UTC)), TOKYO)


def test_the_store_uses_the_cores_conversion() -> None:
    from app.store import types

    assert types.from_ms is from_ms and types.to_ms is to_ms
