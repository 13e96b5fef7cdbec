"""The text forms of operating hours and dates off, as written in the catalog.

Each function reads one small piece ("mon-fri", "08:30-21:00", "12-29..01-03") and raises
``ValueError`` with the expected form, so that the loader can point at the exact YAML line.
The result is the plain values ``app.sla.calendar.OperatingHours`` is made of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.sla.calendar import MinuteRange, MonthDay, OperatingHours

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Named day sets, besides single days and ranges such as "mon-fri".
DAY_SETS: dict[str, tuple[int, ...]] = {
    "daily": (0, 1, 2, 3, 4, 5, 6),
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
}
MINUTES_PER_DAY = 1440
# Days in each month of a leap year: "02-29" is a valid day off, taken in leap years only.
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_MONTH_DAY = re.compile(r"(\d{1,2})-(\d{1,2})")
_DAY_FORMS = "a day (mon..sun), a range such as 'mon-fri', a list such as 'sat,sun', or 'daily'"


def parse_days(spec: str) -> tuple[int, ...]:
    """The weekdays (0 = Monday) named by ``spec``: ``"mon"``, ``"mon-fri"``, ``"sat,sun"``,
    ``"daily"``, ``"weekdays"``, ``"weekends"``. A range may wrap: ``"fri-mon"``."""
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        if part in DAY_SETS:
            days.extend(DAY_SETS[part])
            continue
        first, dash, last = part.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ValueError(f"{spec!r} is not {_DAY_FORMS}")
        start = WEEKDAYS.index(first)
        end = WEEKDAYS.index(last) if dash else start
        days.extend((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    if len(set(days)) != len(days):
        raise ValueError(f"{spec!r} names the same day twice")
    return tuple(days)


def _parse_time(text: str, whole: str) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{whole!r}: expected a range 'HH:MM-HH:MM' such as '08:30-21:00'")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise ValueError(f"{whole!r}: {text.strip()!r} is not a time of day (00:00 to 24:00)")
    return hour * 60 + minute


def parse_time_range(text: str) -> MinuteRange:
    """``"08:30-21:00"`` as minutes from local midnight, half-open: ``(510, 1260)``.

    "24:00" is allowed as an end. A range over midnight is refused rather than guessed:
    it belongs to two days, and the writer should say which."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r}: expected a range 'HH:MM-HH:MM' such as '08:30-21:00'")
    start, end = _parse_time(start_text, text), _parse_time(end_text, text)
    if start == MINUTES_PER_DAY:
        raise ValueError(f"{text!r}: 24:00 can only end a range")
    if end <= start:
        raise ValueError(
            f"{text!r}: the end must be after the start; to cross midnight, write "
            f"'{start_text.strip()}-24:00' on one day and '00:00-{end_text.strip()}' on the next"
        )
    return (start, end)


def merge_ranges(ranges: Iterable[MinuteRange]) -> tuple[MinuteRange, ...]:
    """Sorted, with overlapping or touching ranges joined, so each minute appears once."""
    merged: list[MinuteRange] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def parse_month_day(text: str) -> MonthDay:
    """``"12-29"`` as ``(12, 29)``."""
    match = _MONTH_DAY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r}: expected a day of the year 'MM-DD' such as '12-29'")
    month, day = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        raise ValueError(f"{text.strip()!r} is not a day of the year (MM-DD)")
    return (month, day)


def parse_dates_off(text: str) -> tuple[MonthDay, MonthDay]:
    """``"12-29..01-03"`` (both ends included, may wrap the year end) or a single ``"05-03"``."""
    first, dots, last = text.partition("..")
    start = parse_month_day(first)
    return (start, parse_month_day(last) if dots else start)


def format_hours(hours: OperatingHours) -> str:
    """One line for summaries: ``"mon-fri 08:30-21:00; sat 09:00-17:00; off 12-29..01-03"``."""
    parts: list[str] = []
    if hours.weekly is None:
        parts.append("24x7")
    else:
        # Consecutive days with the same ranges are shown as one "mon-fri".
        day = 0
        while day < 7:
            ranges = hours.weekly.get(day)
            last = day
            while last + 1 < 7 and hours.weekly.get(last + 1) == ranges:
                last += 1
            if ranges:
                days = WEEKDAYS[day] if last == day else f"{WEEKDAYS[day]}-{WEEKDAYS[last]}"
                parts.append(f"{days} {', '.join(_format_range(r) for r in ranges)}")
            day = last + 1
        if not parts:
            parts.append("never")
    for start, end in hours.dates_off:
        parts.append(
            f"off {_format_month_day(start)}"
            + ("" if start == end else f"..{_format_month_day(end)}")
        )
    return "; ".join(parts)


def _format_range(minute_range: MinuteRange) -> str:
    start, end = minute_range
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def _format_month_day(month_day: MonthDay) -> str:
    return f"{month_day[0]:02d}-{month_day[1]:02d}"
