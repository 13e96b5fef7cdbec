"""Labels and the few text formatters the reports share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.reports.document import reiwa_year
from app.reports.formats import display_ratio, format_duration, percent_decimals, truncate_ratio
from app.reports.labels import fiscal_year_title, label, label_keys, version_caption


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


def _reason(action: str, kind: str, retroactive: bool) -> dict[str, object]:
    window = {"kind": kind, "retroactive": retroactive}
    return {"entity": "exclusion", "entity_id": "12", "action": action, "window": window}


def test_version_captions_say_which_version_and_why() -> None:
    closed = {"version": 1, "closed_at": "2026-11-01T03:00:00+09:00", "reasons": []}
    assert version_caption(closed, "ja") == "確定 (第1版)"
    assert version_caption(closed, "en") == "Closed (version 1)"
    assert version_caption(None, "ja") is None
    amended = {
        "version": 3,
        "closed_at": "2026-12-01T03:00:00+09:00",
        "changed_inputs": ["exclusions"],
        "reasons": [_reason("update", "planned", False), _reason("delete", "disaster", True)],
    }
    assert version_caption(amended, "ja") == (
        "第3版 — 2026-12-01 改訂: 計画停止 #12 を変更、災害による停止 #12 を削除"
    )
    assert version_caption(amended, "en") == (
        "Version 3 — amended 2026-12-01: planned window #12 changed; disaster window #12 removed"
    )
    # Late observations leave no audit entry: the caption names the input that moved.
    late = {**amended, "reasons": [], "changed_inputs": ["segments"]}
    assert version_caption(late, "en") == (
        "Version 3 — amended 2026-12-01: late observations included"
    )
