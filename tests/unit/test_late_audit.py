"""Which results count as older than the current month (the only ones checked against the
closed months), in the reporting time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from app.sla import periods
from app.store.late import LateAudit


def test_the_current_month_follows_the_reporting_zone_and_moves_on() -> None:
    guard = LateAudit("Asia/Tokyo")
    # 31 October 15:30 UTC is already 1 November in Tokyo.
    assert guard.current_month_start_ms(datetime(2026, 10, 31, 15, 30, tzinfo=UTC)) == (
        periods.month(2026, 11, "Asia/Tokyo").start_ms
    )
    assert guard.month_label(datetime(2026, 10, 31, 15, 30, tzinfo=UTC)) == "2026-11"
    assert guard.month_label(datetime(2026, 10, 31, 14, 59, tzinfo=UTC)) == "2026-10"
    # The cached month is left when time passes its end, and found again going back.
    assert guard.current_month_start_ms(datetime(2026, 12, 1, tzinfo=UTC)) == (
        periods.month(2026, 12, "Asia/Tokyo").start_ms
    )
    assert guard.current_month_start_ms(datetime(2026, 11, 5, tzinfo=UTC)) == (
        periods.month(2026, 11, "Asia/Tokyo").start_ms
    )


def test_a_zone_with_summer_time() -> None:
    guard = LateAudit("Europe/Berlin")
    # 31 March 2026 22:30 UTC is 1 April 00:30 in Berlin (summer time, UTC+2).
    april = periods.month(2026, 4, "Europe/Berlin")
    assert guard.current_month_start_ms(datetime(2026, 3, 31, 22, 30, tzinfo=UTC)) == april.start_ms
    assert guard.month_label(datetime(2026, 3, 31, 21, 59, tzinfo=UTC)) == "2026-03"
