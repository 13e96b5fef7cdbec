"""``kadou import`` refuses a file that gives one observation two different results, and the
live sink counts the results of checks that left the catalog instead of losing them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from app.metrics import PROBE_REGISTRY
from app.store.sink import StoreSink
from tests.support.api import make_runtime
from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, database_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, database_url)
    cli("db", "upgrade")
    return cli


def line(minute: int, ok: bool = True, location: str = "tokyo") -> str:
    return json.dumps(
        {
            "check": "jpki/main/http",
            "location": location,
            "observed_at": f"2026-10-01T00:{minute:02d}:00+09:00",
            "ok": ok,
        }
    )


def _nothing_stored(kadou: KadouCli) -> None:
    report = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    jpki = next(s for s in report["services"] if s["system"] == "jpki")
    assert jpki["unknown_seconds"] == jpki["scheduled_seconds"]


@pytest.mark.parametrize("batch", [50_000, 3], ids=["one batch", "across batches"])
def test_a_conflicting_duplicate_rejects_the_whole_file_naming_both_lines(
    kadou: KadouCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, batch: int
) -> None:
    monkeypatch.setattr("app.cli.imports.IMPORT_BATCH", batch)
    rows = [line(m) for m in range(6)]
    # Line 7 says 00:01 failed where line 2 said it succeeded; osaka's 00:01 is another key.
    rows += [line(1, location="osaka"), line(1, ok=False), line(7)]
    data = tmp_path / "conflict.jsonl"
    data.write_text("\n".join(rows) + "\n")
    output = kadou("import", str(data), expect=2)
    assert "lines 2 and 8 are the same observation (jpki/main/http from tokyo" in output
    assert "Nothing was imported" in output
    _nothing_stored(kadou)
    # Read from standard input, the lines are named the same way.
    piped = kadou("import", "-", input=data.read_text(), expect=2)
    assert "lines 2 and 8 are the same observation" in piped
    _nothing_stored(kadou)


def test_the_same_result_twice_and_a_re_import_are_still_only_duplicates(
    kadou: KadouCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("app.cli.imports.IMPORT_BATCH", 3)
    data = tmp_path / "twice.jsonl"
    data.write_text("\n".join([line(0), line(1, ok=False), line(2), line(1, ok=False)]) + "\n")
    assert "imported 3 observations (1 duplicates skipped" in kadou("import", str(data))
    assert "imported 0 observations (4 duplicates skipped" in kadou("import", str(data))
    # A file that contradicts what another source stored earlier is not "one file with a
    # conflict": the stored result stays, as for any duplicate.
    other = tmp_path / "other.jsonl"
    other.write_text(line(1, ok=True) + "\n")
    assert "imported 0 observations (1 duplicates skipped" in kadou("import", str(other))


@dataclass(frozen=True)
class _Record:
    check: str
    location: str
    observed_at: datetime
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None
    end_of_observation: bool = False


def test_results_of_checks_gone_from_the_catalog_are_counted(sqlite_url: str) -> None:
    from tests.support.api import migrate

    migrate(sqlite_url)
    runtime = make_runtime(sqlite_url)
    sink = StoreSink(runtime.sessions, runtime.timeline_params, late=runtime.late_audit)

    def dropped() -> float:
        value = PROBE_REGISTRY.get_sample_value(
            "kadou_results_dropped_total", {"reason": "unknown_check"}
        )
        return value or 0.0

    before = dropped()
    at = datetime.fromisoformat("2026-11-20T09:00:00+09:00")
    records = [
        _Record("jpki/main/http", "tokyo", at, True),
        _Record("gone/service/http", "tokyo", at, True),
        _Record("gone/service/tcp", "tokyo", at, False),
    ]
    asyncio.run(sink.write(records))
    assert dropped() - before == 2
    runtime.engine.dispose()


def test_a_stop_mark_and_a_result_at_one_instant_conflict(kadou: KadouCli, tmp_path: Path) -> None:
    mark = json.dumps(
        {
            "check": "jpki/main/http",
            "location": "tokyo",
            "observed_at": "2026-10-01T00:01:00+09:00",
            "end_of_observation": True,
        }
    )
    data = tmp_path / "mark.jsonl"
    data.write_text("\n".join([line(0), line(1), mark]) + "\n")
    assert "lines 2 and 3 are the same observation" in kadou("import", str(data), expect=2)
    _nothing_stored(kadou)
