"""Labels and the few text formatters the reports share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.reports.document import reiwa_year
from app.reports.formats import display_ratio, format_duration, percent_decimals, truncate_ratio
from app.reports.labels import fiscal_year_title, label, label_keys


def test_reiwa_years() -> None:
    assert reiwa_year(2019) == 1
    assert reiwa_year(2026) == 8
    assert fiscal_year_title(2026, "ja") == "令和8年度"
    assert fiscal_year_title(2027, "en") == "FY2027"
    with pytest.raises(ValueError, match="Reiwa"):
        reiwa_year(2018)


@pytest.mark.parametrize(
    ("seconds", "lang", "text"),
    [
        (2669.4, "en", "44 min 29.4 s"),
        (2669.4, "ja", "44分29.4秒"),
        (-321.6, "ja", "-5分21.6秒"),
        (2671200, "en", "30 d 22 h 0 min"),
        (28800, "ja", "8時間0分"),
        (0, "en", "0 s"),
        (120, "en", "2 min"),
    ],
)
def test_format_duration(seconds: float, lang: str, text: str) -> None:
    assert format_duration(seconds, lang) == text  # type: ignore[arg-type]


def test_truncation_never_rounds_up() -> None:
    assert truncate_ratio(0.9989999, 2) == Decimal("0.9989")
    assert truncate_ratio(0.99995, 3) == Decimal("0.99995")
    assert display_ratio("99.89%") == Decimal("0.9989")
    assert percent_decimals("99.993%") == 3
    assert percent_decimals("99.9%") == 1


def test_every_label_has_both_languages() -> None:
    for key in label_keys():
        assert label(key, "ja") and label(key, "en"), key
