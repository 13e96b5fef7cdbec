"""A time typed by a user reads the same on the command line, over the API and in a page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.errors import InvalidInput
from app.instants import parse_instant
from tests.support.api import Api, open_api
from tests.support.cli import KadouCli

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=TOKYO)


def test_without_an_offset_a_time_is_in_the_reporting_zone() -> None:
    assert parse_instant("2026-10-04T01:00", "start", TOKYO) == datetime(
        2026, 10, 4, 1, 0, tzinfo=TOKYO
    )
    with_offset = parse_instant(" 2026-10-04T01:00Z ", "start", TOKYO)
    assert with_offset == datetime(2026, 10, 4, 1, 0, tzinfo=UTC)
    assert with_offset.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("text", "part"), [("", "required"), ("yesterday", "'yesterday'")])
def test_a_bad_time_names_the_field_and_the_form(text: str, part: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_instant(text, "end", TOKYO)
    error = raised.value
    assert error.field == "end"
    assert part in error.message and "2026-10-04T01:00" in error.message
    assert error.ja and "2026-10-04T01:00" in error.ja


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW)


def test_the_cli_and_the_api_give_the_same_message(
    api: Api, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same message; the command line names the field as its option.
    expected = str(_error("yesterday", "--start"))
    kadou = KadouCli(monkeypatch, sqlite_url)
    output = kadou(
        "exclusions", "add", "--scope", "jpki", "--kind", "planned",
        "--start", "yesterday", "--end", "2026-12-01T02:00", "--reason", "patching",
        expect=2,
    )  # fmt: skip
    assert output.strip() == f"kadou: {expected}"
    response = api.get("/api/v1/exclusions?start=yesterday")
    assert response.status_code == 422
    assert _error("yesterday", "start").message in response.text


def _error(text: str, field: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        parse_instant(text, field, TOKYO)
    return raised.value
