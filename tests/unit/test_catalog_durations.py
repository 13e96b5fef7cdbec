"""Durations as written in the catalog, to integer milliseconds and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("60s", 60_000),
        ("10s", 10_000),
        ("8h", 8 * 3_600_000),
        ("1h30m", 90 * 60_000),
        ("500ms", 500),
        ("2d", 2 * 86_400_000),
        ("1m30s", 90_000),
        ("1.5s", 1_500),
        ("0.5h", 1_800_000),
        ("1h 30m", 90 * 60_000),
        (" 45s ", 45_000),
        ("1d2h3m4s5ms", 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_000 + 5),
        (60, 60_000),
        (0, 0),
    ],
)
def test_parse_duration(text: str | int, expected_ms: int) -> None:
    assert parse_duration(text) == expected_ms


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("60", "no unit"),
        ("", "empty"),
        ("60x", "expected a duration"),
        ("s", "expected a duration"),
        ("1h1h", "largest to smallest"),
        ("30m1h", "largest to smallest"),
        ("1.0005s", "whole number of milliseconds"),
        ("-5s", "expected a duration"),
        (-5, "negative"),
        (True, "expected a duration"),
        (1.5, "expected a duration"),
        (None, "expected a duration"),
    ],
)
def test_parse_duration_rejects(text: object, message_part: str) -> None:
    with pytest.raises(ValueError, match=message_part):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration_ms", "text"),
    [(0, "0s"), (500, "500ms"), (90_000, "1m30s"), (8 * 3_600_000, "8h"), (86_400_001, "1d1ms")],
)
def test_format_duration(duration_ms: int, text: str) -> None:
    assert format_duration(duration_ms) == text


@given(st.integers(min_value=0, max_value=400 * 86_400_000))
def test_format_then_parse_is_identity(duration_ms: int) -> None:
    assert parse_duration(format_duration(duration_ms)) == duration_ms
