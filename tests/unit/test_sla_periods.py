"""Periods cut in the reporting time zone (SLA-SEMANTICS §2)."""

from __future__ import annotations

import itertools

import pytest

from app.sla.periods import (
    custom_range,
    day,
    fiscal_year,
    fiscal_year_months,
    month,
    parse_fiscal_year,
    parse_month,
    reiwa_fiscal_year_label,
)

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("year", "month_number", "days"),
    [(2026, 2, 28), (2028, 2, 29), (2026, 10, 31), (2026, 11, 30), (2026, 12, 31)],
)
def test_month_lengths(year: int, month_number: int, days: int) -> None:
    period = month(year, month_number, "Asia/Tokyo")
    assert period.end_ms - period.start_ms == days * DAY_MS


def test_month_is_cut_at_local_midnight() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    assert october.label == "2026-10"
    assert october.start().isoformat() == "2026-10-01T00:00:00+09:00"
    assert october.end().isoformat() == "2026-11-01T00:00:00+09:00"
    # JST is UTC+9: the month starts at 15:00 UTC on the last day of September.
    assert october.start_ms == 1_790_780_400_000


def test_month_with_dst_in_berlin_has_its_true_length() -> None:
    march = month(2026, 3, "Europe/Berlin")
    assert march.end_ms - march.start_ms == 31 * DAY_MS - 3_600_000


def test_parse_month_accepts_only_yyyy_mm() -> None:
    assert parse_month("2026-10", "Asia/Tokyo") == month(2026, 10, "Asia/Tokyo")
    for bad in ("2026-13", "2026/10", "26-10", "October"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad, "Asia/Tokyo")
    with pytest.raises(ValueError, match="time zone"):
        parse_month("2026-10", "Mars/Olympus")


def test_fiscal_year_runs_april_to_march() -> None:
    fy = fiscal_year(2026, "Asia/Tokyo")
    assert fy.label == "FY2026"
    assert fy.start().isoformat() == "2026-04-01T00:00:00+09:00"
    assert fy.end().isoformat() == "2027-04-01T00:00:00+09:00"
    months = fiscal_year_months(2026, "Asia/Tokyo")
    assert [period.label for period in (months[0], months[-1])] == ["2026-04", "2027-03"]
    assert months[0].start_ms == fy.start_ms and months[-1].end_ms == fy.end_ms
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(months))
    assert parse_fiscal_year("FY2026", "Asia/Tokyo") == fy == parse_fiscal_year("2026")


def test_reiwa_labels() -> None:
    assert reiwa_fiscal_year_label(2026) == "令和8年度"
    assert reiwa_fiscal_year_label(2019) == "令和元年度"
    assert reiwa_fiscal_year_label(2020) == "令和2年度"
    with pytest.raises(ValueError):
        reiwa_fiscal_year_label(2018)


def test_day_and_range() -> None:
    one_day = day(2026, 10, 4, "Asia/Tokyo")
    assert one_day.label == "2026-10-04" and one_day.end_ms - one_day.start_ms == DAY_MS
    custom = custom_range(one_day.start_ms, one_day.end_ms + DAY_MS, "Asia/Tokyo")
    assert custom.kind == "range"
    assert custom.label == "2026-10-04T00:00:00+09:00/2026-10-06T00:00:00+09:00"
    seconds = custom_range(one_day.start_ms + 30_000, one_day.end_ms - 45_000, "Asia/Tokyo")
    assert seconds.label == "2026-10-04T00:00:30+09:00/2026-10-04T23:59:15+09:00"
    millis = custom_range(one_day.start_ms + 1, one_day.start_ms + 30_000, "Asia/Tokyo")
    assert millis.label == "2026-10-04T00:00:00.001+09:00/2026-10-04T00:00:30.000+09:00"
    with pytest.raises(ValueError):
        custom_range(10, 10, "Asia/Tokyo")
