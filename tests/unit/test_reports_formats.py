"""The one formatter per kind of value that every surface shows (SLA-SEMANTICS §5:
display truncates, never rounds up)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from app.reports.formats import (
    format_duration,
    format_percent,
    format_seconds,
    percent_decimals,
    truncate_ratio,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3599.96, "59m59.9s"),  # was "59m60.0s": rounding carried into the minutes
        (869.46, "14m29.4s"),  # the truncation of 869.46, not "14m29.5s"
        (-0.04, "-0.1s"),  # never "-0.0s": an overspent budget never reads as zero
        (-321.6, "-5m21.6s"),
        (0, "0.0s"),
        (59.99, "59.9s"),
        (3600, "1h00m00.0s"),
        (2671200, "742h00m00.0s"),
        (None, "-"),
    ],
)
def test_compact_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds, "en", compact=True) == text


@pytest.mark.parametrize(
    ("seconds", "lang", "text"),
    [
        (3599.96, "en", "59 min 59.9 s"),
        (3599.96, "ja", "59分59.9秒"),
        (869.46, "ja", "14分29.4秒"),
        (-0.04, "en", "-0.1 s"),
        (-0.04, "ja", "-0.1秒"),
        (2669.4, "en", "44 min 29.4 s"),
        (2671200, "en", "30 d 22 h 0 min"),
        (None, "en", "—"),
    ],
)
def test_human_duration(seconds: float | None, lang: str, text: str) -> None:
    assert format_duration(seconds, lang) == text  # type: ignore[arg-type]


def test_no_negative_zero_anywhere() -> None:
    for millis in range(-1000, 1):
        for compact in (True, False):
            text = format_duration(millis / 1000, "en", compact=compact)
            assert "-0.0" not in text and text not in ("-0 s", "-0s"), (millis, text)


@pytest.mark.parametrize(
    ("ratio", "decimals", "text"),
    [
        (0.989957, 2, "98.99%"),  # the CLI printed "99.00%" beside "insufficient data"
        (0.998996, 2, "99.89%"),
        (0.9999999, 3, "99.999%"),
        (Fraction(2669400 - 1800, 2669400), 2, "99.93%"),
        (Decimal("0.24"), 2, "24.00%"),
        (1.0, 2, "100.00%"),
        (0.0, 1, "0.0%"),
        (None, 2, "—"),
    ],
)
def test_percent_truncates(
    ratio: float | Decimal | Fraction | None, decimals: int, text: str
) -> None:
    assert format_percent(ratio, decimals) == text


def test_percent_decimals_and_truncation() -> None:
    assert percent_decimals("99.993%") == 3
    assert percent_decimals("99.9%") == 1
    assert percent_decimals(None) == 2
    assert truncate_ratio(0.9989999, 2) == Decimal("0.9989")


@pytest.mark.parametrize(
    ("seconds", "lang", "text"),
    [
        (2671200, "ja", "2,671,200 秒"),
        (869.4567, "en", "869.456 s"),  # cut, never rounded up to .457
        (-0.0004, "en", "-0.001 s"),
        (None, "en", ""),
    ],
)
def test_exact_seconds(seconds: float | None, lang: str, text: str) -> None:
    assert format_seconds(seconds, lang) == text  # type: ignore[arg-type]
