"""``kadou exclusions``: refusals name the option that helps, and a second removal says when
and by whom the window went."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, sqlite_url)
    cli("db", "upgrade")
    return cli


def add(kadou: KadouCli, *extra: str, start: str, expect: int = 0) -> str:
    return kadou(
        "exclusions", "add", "--scope", "jpki", "--kind", "planned", "--start", start,
        "--end", "2030-01-01T05:00", "--reason", "OS patching", *extra, expect=expect,
    )  # fmt: skip


def test_a_past_planned_window_names_retroactive(kadou: KadouCli) -> None:
    out = add(kadou, start="2026-01-01T01:00", expect=2)
    assert len(out.strip().splitlines()) == 1
    assert "--start 2026-01-01T01:00: a planned window must be registered before it starts" in out
    assert "register it with --retroactive" in out
    assert "added" in add(kadou, "--retroactive", start="2026-01-01T01:00")
    assert "(retroactive)" in kadou("exclusions", "list")


def test_removing_a_removed_window_says_when_and_by_whom(kadou: KadouCli) -> None:
    window_id = re.search(r"exclusion (\d+) added", add(kadou, start="2029-12-31T01:00"))
    assert window_id is not None
    number = window_id.group(1)
    assert f"exclusion {number} removed" in kadou(
        "exclusions", "remove", number, "--reason", "cancelled by the vendor"
    )
    out = kadou("exclusions", "remove", number, "--reason", "again", expect=2)
    removed = re.search(
        rf"exclusion window {number} was already removed on (\S+), by cli:\S+ "
        r"\(cancelled by the vendor\)",
        out,
    )
    assert removed is not None, out
    assert removed.group(1).endswith("+09:00")  # in the reporting time zone
    assert "no exclusion window with id 99; see `kadou exclusions list`" in kadou(
        "exclusions", "remove", "99", "--reason", "x", expect=2
    )


def test_list_format_is_checked(kadou: KadouCli) -> None:
    assert "--format 'xyz': choose table or json" in kadou(
        "exclusions", "list", "--format", "xyz", expect=2
    )
    assert json.loads(kadou("exclusions", "list", "--format", "json")) == []
