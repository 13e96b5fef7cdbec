"""Reporting periods cut in the reporting time zone (SLA-SEMANTICS §2).

A month is ``[1st 00:00, next 1st 00:00)`` local time, a fiscal year ``[1 April, next
1 April)``, a day ``[00:00, next 00:00)``. Periods carry epoch milliseconds so the engine
never touches a calendar again; ``start()``/``end()`` give the local datetimes back for
display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.sla.calendar import from_ms, to_ms

DEFAULT_TIMEZONE = "Asia/Tokyo"
# Reiwa 1 is 2019: Reiwa year = Gregorian year - 2018.
_REIWA_OFFSET = 2018

_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
_FISCAL_YEAR_PATTERN = re.compile(r"^(?:FY)?(\d{4})$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    kind: str  # "month" | "fiscal_year" | "day" | "range"
    label: str
    start_ms: int
    end_ms: int
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def start(self) -> datetime:
        return from_ms(self.start_ms, self.zone)

    def end(self) -> datetime:
        return from_ms(self.end_ms, self.zone)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def evaluated_end_ms(self, cutoff_ms: int) -> int:
        """Where figures stop: the period's end, or the data cut-off ("month to date")."""
        return max(self.start_ms, min(self.end_ms, cutoff_ms))


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name such as 'Asia/Tokyo'"
        ) from error


def _local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    return to_ms(datetime.combine(day, time(0), tzinfo=zone))


def month(year: int, month: int, tz: str = DEFAULT_TIMEZONE) -> Period:
    """The calendar month ``year-month`` in ``tz``, labelled ``"2026-10"``."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    zone = _zone(tz)
    next_first = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(
        kind="month",
        label=f"{year:04d}-{month:02d}",
        start_ms=_local_midnight_ms(date(year, month, 1), zone),
        end_ms=_local_midnight_ms(next_first, zone),
        timezone=tz,
    )


def parse_month(text: str, tz: str = DEFAULT_TIMEZONE) -> Period:
    """``"2026-10"`` -> the month; anything else is a ``ValueError`` saying what to write."""
    matched = _MONTH_PATTERN.match(text.strip())
    if matched is None or not 1 <= int(matched.group(2)) <= 12:
        raise ValueError(f"month {text!r} is not valid: write it as YYYY-MM, e.g. 2026-10")
    return month(int(matched.group(1)), int(matched.group(2)), tz)


def fiscal_year(year: int, tz: str = DEFAULT_TIMEZONE) -> Period:
    """Japanese fiscal year ``year``: ``[year-04-01, year+1-04-01)``, labelled ``"FY2026"``."""
    zone = _zone(tz)
    return Period(
        kind="fiscal_year",
        label=f"FY{year:04d}",
        start_ms=_local_midnight_ms(date(year, 4, 1), zone),
        end_ms=_local_midnight_ms(date(year + 1, 4, 1), zone),
        timezone=tz,
    )


def parse_fiscal_year(text: str, tz: str = DEFAULT_TIMEZONE) -> Period:
    """``"FY2026"`` or ``"2026"`` -> the fiscal year."""
    matched = _FISCAL_YEAR_PATTERN.match(text.strip())
    if matched is None:
        raise ValueError(
            f"fiscal year {text!r} is not valid: write it as FY2026 or 2026 (April to March)"
        )
    return fiscal_year(int(matched.group(1)), tz)


def fiscal_year_months(year: int, tz: str = DEFAULT_TIMEZONE) -> list[Period]:
    """April of ``year`` to March of ``year + 1``, in order."""
    return [month(year, number, tz) for number in range(4, 13)] + [
        month(year + 1, number, tz) for number in range(1, 4)
    ]


def day(year: int, month: int, day_of_month: int, tz: str = DEFAULT_TIMEZONE) -> Period:
    """One local day, labelled ``"2026-10-04"`` (23 or 25 hours on DST days)."""
    zone = _zone(tz)
    local_day = date(year, month, day_of_month)
    next_day = date.fromordinal(local_day.toordinal() + 1)
    return Period(
        kind="day",
        label=local_day.isoformat(),
        start_ms=_local_midnight_ms(local_day, zone),
        end_ms=_local_midnight_ms(next_day, zone),
        timezone=tz,
    )


def custom_range(start_ms: int, end_ms: int, tz: str = DEFAULT_TIMEZONE) -> Period:
    """Any ``[start_ms, end_ms)``, labelled with its local ISO start and end.

    The label keeps the seconds (and the milliseconds, when there are any): a window asked
    for as 00:10:30-00:12:15 must not read as 00:10-00:12, a different window.
    """
    if end_ms <= start_ms:
        raise ValueError("a range must end after it starts")
    zone = _zone(tz)
    timespec = "milliseconds" if start_ms % 1000 or end_ms % 1000 else "seconds"
    label = (
        f"{from_ms(start_ms, zone).isoformat(timespec=timespec)}"
        f"/{from_ms(end_ms, zone).isoformat(timespec=timespec)}"
    )
    return Period(kind="range", label=label, start_ms=start_ms, end_ms=end_ms, timezone=tz)


def reiwa_fiscal_year_label(year: int) -> str:
    """The Japanese label of fiscal year ``year``: 2026 -> 令和8年度, 2019 -> 令和元年度."""
    reiwa_year = year - _REIWA_OFFSET
    if reiwa_year < 1:
        raise ValueError(f"fiscal year {year} is before the Reiwa era (2019)")
    return "令和元年度" if reiwa_year == 1 else f"令和{reiwa_year}年度"


def days_of(period: Period) -> list[Period]:
    """The local days that make up ``period`` (for a range: the days it touches)."""
    zone = period.zone
    first = from_ms(period.start_ms, zone).date()
    last = from_ms(period.end_ms - 1, zone).date()
    return [
        day(d.year, d.month, d.day, period.timezone)
        for d in (date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
    ]
