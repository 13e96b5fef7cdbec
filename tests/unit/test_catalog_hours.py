"""The pieces of operating hours and dates off, and their one-line summary."""

from __future__ import annotations

import pytest

from app.catalog.hours import (
    format_hours,
    merge_ranges,
    parse_dates_off,
    parse_days,
    parse_time_range,
)
from app.sla.calendar import OperatingHours


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon", (0,)),
        ("sun", (6,)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("fri-mon", (4, 5, 6, 0)),
        ("sat,sun", (5, 6)),
        ("Mon-Wed", (0, 1, 2)),
        ("daily", (0, 1, 2, 3, 4, 5, 6)),
        ("weekdays", (0, 1, 2, 3, 4)),
        ("weekends", (5, 6)),
    ],
)
def test_parse_days(spec: str, days: tuple[int, ...]) -> None:
    assert parse_days(spec) == days


@pytest.mark.parametrize("spec", ["monday", "mon-", "mon-fri,fri", "daily,mon", "", "0"])
def test_parse_days_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_days(spec)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("08:30-21:00", (510, 1260)),
        ("00:00-24:00", (0, 1440)),
        ("9:00-17:00", (540, 1020)),
        (" 09:00 - 17:30 ", (540, 1050)),
    ],
)
def test_parse_time_range(text: str, minutes: tuple[int, int]) -> None:
    assert parse_time_range(text) == minutes


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("08:30", "HH:MM-HH:MM"),
        ("08:30-25:00", "not a time of day"),
        ("08:60-09:00", "not a time of day"),
        ("24:00-24:00", "can only end"),
        ("24:30-24:45", "not a time of day"),
        ("21:00-08:30", "cross midnight"),
        ("10:00-10:00", "after the start"),
        ("8h-9h", "HH:MM-HH:MM"),
    ],
)
def test_parse_time_range_rejects(text: str, message_part: str) -> None:
    with pytest.raises(ValueError, match=message_part):
        parse_time_range(text)


def test_merge_ranges_sorts_and_joins_overlaps() -> None:
    assert merge_ranges([(600, 700), (0, 60), (650, 800), (800, 900), (1000, 1100)]) == (
        (0, 60),
        (600, 900),
        (1000, 1100),
    )


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("12-29..01-03", ((12, 29), (1, 3))),
        ("05-03", ((5, 3), (5, 3))),
        ("02-29", ((2, 29), (2, 29))),
        ("5-3..5-5", ((5, 3), (5, 5))),
    ],
)
def test_parse_dates_off(text: str, dates: tuple[tuple[int, int], tuple[int, int]]) -> None:
    assert parse_dates_off(text) == dates


@pytest.mark.parametrize("text", ["13-01", "04-31", "00-10", "12-29..", "2026-12-29", "12/29"])
def test_parse_dates_off_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dates_off(text)


def test_format_hours_groups_days_with_the_same_ranges() -> None:
    weekday = ((510, 1260),)
    hours = OperatingHours(
        weekly={0: weekday, 1: weekday, 2: weekday, 3: weekday, 4: weekday, 5: ((540, 1020),)},
        dates_off=(((12, 29), (1, 3)),),
    )
    assert format_hours(hours) == "mon-fri 08:30-21:00; sat 09:00-17:00; off 12-29..01-03"
    assert format_hours(OperatingHours()) == "24x7"
