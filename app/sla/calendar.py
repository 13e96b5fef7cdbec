"""Operating hours and dates off, cut in the reporting time zone (SLA-SEMANTICS §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from app.sla.intervals import IntervalSet

# Minutes from local midnight, half-open: (510, 1260) is 08:30-21:00. End may be 1440.
MinuteRange = tuple[int, int]
# (month, day) inclusive on both ends; a range may wrap the year end: ((12, 29), (1, 3)).
MonthDay = tuple[int, int]


@dataclass(frozen=True, slots=True)
class OperatingHours:
    """When a service is scheduled. ``weekly is None`` means 24x7.

    ``weekly`` maps a weekday (0 = Monday ... 6 = Sunday) to its ranges; a weekday
    absent from the mapping is not scheduled at all. ``dates_off`` removes whole local
    days every year, whatever the weekly hours say.
    """

    weekly: dict[int, tuple[MinuteRange, ...]] | None = None
    dates_off: tuple[tuple[MonthDay, MonthDay], ...] = field(default_factory=tuple)

    @property
    def always(self) -> bool:
        return self.weekly is None and not self.dates_off


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# Kadou's one conversion between epoch milliseconds and datetimes: the store, the API, the
# pages and the reports all use these two functions (the store re-exports them).


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact: no float on the way).

    Finer parts are floored, so an instant and its millisecond compare the same way.
    """
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: give it a time zone")
    return (instant - _EPOCH) // _ONE_MS


def from_ms(at_ms: int, tz: tzinfo = UTC) -> datetime:
    """The aware datetime of epoch milliseconds, in ``tz``.

    An instant a calendar cannot show (outside the years 1 to 9999, in UTC or in ``tz``) is
    a ``ValueError`` saying so, not an ``OverflowError`` from deep inside ``datetime``.
    """
    try:
        instant = _EPOCH + timedelta(milliseconds=at_ms)
        return instant if tz is UTC else instant.astimezone(tz)
    except OverflowError as error:
        raise ValueError(
            f"{at_ms} ms since 1970-01-01 UTC is outside the years 1 to 9999 that a date can show"
        ) from error


def local_wall_ms(day: date, minute: int, tz: ZoneInfo) -> int:
    """The instant a local wall clock shows ``minute`` minutes after midnight on ``day``.

    Wall-clock arithmetic, so 24:00 is the next local midnight even on a 23- or 25-hour DST
    day. A wall time skipped by a DST jump resolves with the offset in force before the
    jump (``fold=0``): 02:30 on a spring-forward night in Berlin is 03:30 CEST.
    """
    wall = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    return to_ms(wall.replace(tzinfo=tz))


def is_date_off(day: date, dates_off: tuple[tuple[MonthDay, MonthDay], ...]) -> bool:
    """Whether ``day`` falls in one of the yearly ranges (inclusive, may wrap the year end)."""
    month_day = (day.month, day.day)
    for first, last in dates_off:
        if first <= last:
            if first <= month_day <= last:
                return True
        elif month_day >= first or month_day <= last:
            return True
    return False


def operating_intervals(
    hours: OperatingHours, start_ms: int, end_ms: int, tz: ZoneInfo
) -> IntervalSet:
    """The instants of ``[start_ms, end_ms)`` inside the operating hours (SLA-SEMANTICS §4).

    Weekly ranges and dates off are read on the local calendar of ``tz``; each local day is
    turned into UTC separately, so DST days get their true 23 or 25 hours.
    """
    if end_ms <= start_ms:
        return IntervalSet()
    if hours.always:
        return IntervalSet.span(start_ms, end_ms)
    # One day of margin on each side: a local day can start before start_ms in UTC terms.
    first_day = from_ms(start_ms, tz).date() - timedelta(days=1)
    last_day = from_ms(end_ms, tz).date() + timedelta(days=1)
    pieces: list[tuple[int, int]] = []
    day = first_day
    while day <= last_day:
        if not is_date_off(day, hours.dates_off):
            if hours.weekly is None:
                ranges: tuple[MinuteRange, ...] = ((0, 24 * 60),)
            else:
                ranges = hours.weekly.get(day.weekday(), ())
            for first_minute, last_minute in ranges:
                pieces.append(
                    (local_wall_ms(day, first_minute, tz), local_wall_ms(day, last_minute, tz))
                )
        day += timedelta(days=1)
    return IntervalSet(pieces).clip(start_ms, end_ms)
