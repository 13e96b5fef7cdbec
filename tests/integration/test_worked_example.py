"""SLA-SEMANTICS §7 end to end: `kadou import` + `kadou exclusions add` + `kadou report`."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")

CATALOG = """\
timezone: Asia/Tokyo
unknown_policy: exclude
systems:
  - id: info-network
    name: {ja: 情報提供ネットワークシステム（コアシステム）, en: Information Provision Network (core)}
    target: 0.999
    recovery_target: 8h
    services:
      - id: main
        name: {ja: 主要業務, en: Core operations}
        target: 0.999
        checks:
          - id: http
            type: http
            url: http://127.0.0.1:8081/info-network/main/health
            interval: 60s
            timeout: 10s
            confirm: 2
            stale_after: 180s
"""


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=JST)


def worked_example_lines() -> list[str]:
    """One observation a minute from 10-01 00:00 to 11-01 01:00 JST, with §7's events."""
    down = [(jst(10, 4, 2, 30), jst(10, 4, 3, 20)), (jst(10, 31, 23, 50), jst(11, 1, 0, 40))]
    gap = (jst(10, 15, 11, 58), jst(10, 15, 12, 30))  # last result before it: 11:57
    lines = []
    at = jst(10, 1, 0)
    while at < jst(11, 1, 1):
        if not gap[0] <= at < gap[1]:
            ok = not any(start <= at < end for start, end in down)
            lines.append(
                json.dumps(
                    {
                        "check": "info-network/main/http",
                        "location": "tokyo",
                        "observed_at": at.isoformat(),
                        "ok": ok,
                        "latency_ms": 12.5 if ok else None,
                        "detail": None if ok else "status 503",
                    }
                )
            )
        at += timedelta(minutes=1)
    return lines


def imported(output: str) -> tuple[int, int]:
    """(stored, duplicates skipped) from ``kadou import``'s summary line."""
    match = re.search(r"^imported (\d+) observations \((\d+) duplicates skipped", output, re.M)
    assert match, f"no import summary in {output!r}"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture
def kadou(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> KadouCli:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    cli = KadouCli(monkeypatch, database_url, str(catalog))
    cli("db", "upgrade")
    return cli


def test_worked_example(kadou: KadouCli, tmp_path: Path) -> None:
    data = tmp_path / "october.jsonl"
    lines = worked_example_lines()
    # Out of order on purpose: the timeline is a function of the set, not of arrival order.
    data.write_text("\n".join(lines[1::2] + lines[0::2]) + "\n", encoding="utf-8")
    assert imported(kadou("import", str(data))) == (len(lines), 0)
    kadou(
        "exclusions", "add", "--scope", "info-network", "--kind", "planned",
        "--start", "2026-10-04T01:00", "--end", "2026-10-04T03:00",
        "--reason", "monthly maintenance", "--retroactive",
    )  # fmt: skip

    october = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    assert october["period"] == {
        "kind": "month",
        "label": "2026-10",
        "start": "2026-10-01T00:00:00+09:00",
        "end": "2026-11-01T00:00:00+09:00",
        "timezone": "Asia/Tokyo",
    }
    assert october["unknown_policy"] == "exclude"
    for item in (october["services"][0], october["systems"][0]):
        assert item["scheduled_seconds"] == 2_671_200
        assert item["excluded_seconds"] == {"planned": 7200, "disaster": 0}
        assert item["unknown_seconds"] == 1800
        assert item["downtime_seconds"] == 1800
        expected = Fraction(2_671_200 - 3600, 2_671_200 - 1800)
        assert item["availability"] == float(expected)
        assert item["availability_display"] == "99.93%"
        assert item["coverage"] == float(Fraction(2_671_200 - 1800, 2_671_200))
        assert item["met"] is True
        assert item["error_budget_seconds"] == 2669.4
        assert item["error_budget_remaining_seconds"] == 869.4
        assert item["insufficient_data"] is False
        incidents = item["incidents"]
        assert [(i["start"], i["end"], i["downtime_seconds"]) for i in incidents] == [
            ("2026-10-04T02:30:00+09:00", "2026-10-04T03:20:00+09:00", 1200),
            ("2026-10-31T23:50:00+09:00", "2026-11-01T00:40:00+09:00", 600),
        ]
        assert incidents[1]["duration_seconds"] == 3000
        assert incidents[1]["recovery_target_seconds"] == 28800
        assert incidents[1]["recovery_met"] is True

    november = json.loads(kadou("report", "--month", "2026-11", "--format", "json"))
    crossing = november["services"][0]["incidents"]
    assert [(i["start"], i["end"], i["downtime_seconds"]) for i in crossing] == [
        ("2026-10-31T23:50:00+09:00", "2026-11-01T00:40:00+09:00", 2400)
    ]
    assert november["services"][0]["downtime_seconds"] == 2400

    # Re-importing the same file stores nothing new and changes no number.
    assert imported(kadou("import", str(data))) == (0, len(lines))
    again = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    assert again["services"] == october["services"]


def test_table_output_shows_the_figures(kadou: KadouCli, tmp_path: Path) -> None:
    data = tmp_path / "october.jsonl"
    data.write_text("\n".join(worked_example_lines()) + "\n", encoding="utf-8")
    kadou("import", str(data))
    table = kadou("report", "--month", "2026-10")
    assert "info-network/main" in table
    # No planned window registered: all 50 + 10 min of downtime count.
    assert "99.86%" in table
