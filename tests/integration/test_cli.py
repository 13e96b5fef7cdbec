"""The kadou command line: errors name the line and field, and nothing half-written stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, sqlite_url)
    cli("db", "upgrade")
    return cli


def line(check: str = "jpki/main/http", **overrides: object) -> str:
    item: dict[str, object] = {
        "check": check,
        "location": "tokyo",
        "observed_at": "2026-10-01T00:00:00+09:00",
        "ok": True,
        "latency_ms": 12.5,
    }
    item.update(overrides)
    return json.dumps(item)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line("jpki/main/nope"), "line 3: unknown check 'jpki/main/nope'"),
        (
            line(observed_at="2026-10-01T00:00:00"),
            "line 3: observed_at '2026-10-01T00:00:00' has no offset",
        ),
        (line(observed_at="yesterday"), "line 3: observed_at 'yesterday' is not an ISO 8601 time"),
        (line(ok="yes"), "line 3: ok must be true or false"),
        (line(latency_ms=-1), "line 3: latency_ms must be a non-negative number"),
        (line(colour="red"), "line 3: unknown field 'colour'"),
        (line(end_of_observation=True), "line 3: an end-of-observation mark carries no 'ok'"),
        ("{not json", "line 3: not valid JSON"),
    ],
)
def test_a_bad_line_rejects_the_whole_file(
    kadou: KadouCli, tmp_path: Path, bad: str, message: str
) -> None:
    data = tmp_path / "bad.jsonl"
    good = [line(observed_at=f"2026-10-01T00:0{i}:00+09:00") for i in range(2)]
    data.write_text("\n".join([*good, bad, line(observed_at="2026-10-01T00:05:00+09:00")]) + "\n")
    output = kadou("import", str(data), expect=2)
    assert message in output
    assert len(output.strip().splitlines()) == 1
    report = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    jpki = next(s for s in report["services"] if s["system"] == "jpki")
    assert jpki["unknown_seconds"] == jpki["scheduled_seconds"]  # nothing was stored


def test_import_from_stdin_and_report_one_service(kadou: KadouCli) -> None:
    lines = [line(observed_at=f"2026-10-01T00:{m:02d}:00+09:00", ok=m != 5) for m in range(0, 60)]
    assert "imported 60 observations" in kadou("import", "-", input="\n".join(lines))
    report = json.loads(
        kadou(
            "report",
            "--month",
            "2026-10",
            "--system",
            "jpki",
            "--service",
            "main",
            "--format",
            "json",
        )
    )
    assert [s["service"] for s in report["services"]] == ["main"] and report["systems"] == []
    assert report["services"][0]["downtime_seconds"] == 0  # one failure is a blip
    assert report["services"][0]["blips"] == 1


def test_import_an_end_of_observation_mark(kadou: KadouCli) -> None:
    lines = [line(observed_at=f"2026-10-01T00:{m:02d}:00+09:00") for m in range(10)]
    mark = {
        "check": "jpki/main/http",
        "location": "tokyo",
        "observed_at": "2026-10-01T00:09:20+09:00",
        "end_of_observation": True,
    }
    output = kadou("import", "-", input="\n".join([*lines, json.dumps(mark)]))
    assert output.startswith("imported 10 observations and 1 end-of-observation mark (")
    report = json.loads(
        kadou("report", "--month", "2026-10", "--system", "jpki", "--format", "json")
    )
    service = report["services"][0]
    # Observed from 00:00 until the runner stopped at 00:09:20, not for stale_after more.
    assert service["scheduled_seconds"] - service["unknown_seconds"] == 560


def test_exclusions_from_the_command_line(kadou: KadouCli) -> None:
    out = kadou(
        "exclusions", "add", "--scope", "info-network/main", "--kind", "planned",
        "--start", "2026-10-04T01:00", "--end", "2026-10-04T03:00", "--reason", "maintenance",
        expect=2,
    )  # fmt: skip
    assert "must be registered before it starts" in out and "retroactive" in out
    out = kadou(
        "exclusions", "add", "--scope", "info-network/nope", "--kind", "planned",
        "--start", "2030-10-04T01:00", "--end", "2030-10-04T03:00", "--reason", "maintenance",
        expect=2,
    )  # fmt: skip
    assert "unknown service 'nope' of info-network; choose one of main" in out
    out = kadou(
        "exclusions", "add", "--scope", "info-network", "--kind", "planned",
        "--start", "2030-10-04T03:00", "--end", "2030-10-04T01:00", "--reason", "maintenance",
        expect=2,
    )  # fmt: skip
    assert "end: the end must be after the start" in out
    out = kadou(
        "exclusions", "add", "--scope", "info-network", "--kind", "planned",
        "--start", "2030-10-04T01:00", "--end", "2030-10-04T03:00", "--reason", "maintenance",
    )  # fmt: skip
    assert "exclusion 1 added: planned info-network 2030-10-04T01:00:00+09:00" in out
    listed = json.loads(kadou("exclusions", "list", "--format", "json"))
    assert listed[0]["start"] == "2030-10-04T01:00:00+09:00" and listed[0]["created_by"].startswith(
        "cli:"
    )
    assert "a removal needs a reason" in kadou(
        "exclusions", "remove", "1", "--reason", "", expect=2
    )
    kadou("exclusions", "remove", "1", "--reason", "cancelled")
    assert "no exclusion windows" in kadou("exclusions", "list")


def test_schema_must_be_current(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cli = KadouCli(monkeypatch, f"sqlite:///{tmp_path}/empty.db")
    out = cli("report", expect=2)
    assert "run `kadou db upgrade` first" in out


def test_catalog_check_reports_line_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "systems:\n  - id: x\n    name: {ja: X, en: X}\n    target: 0.999\n    services:\n"
        "      - id: main\n        name: {ja: M, en: M}\n        target: 0.999\n        checks:\n"
        "          - id: http\n            type: http\n            url: http://127.0.0.1/\n"
        "            interval: soon\n            timeout: 10s\n"
    )
    out = KadouCli(monkeypatch, sqlite_url)("catalog", "check", str(bad), expect=2)
    assert f"{bad}:13:" in out and "interval" in out
    assert "7 services" in KadouCli(monkeypatch, sqlite_url)("catalog", "check")


def test_report_files_carry_the_json_numbers(kadou: KadouCli, tmp_path: Path) -> None:
    import csv

    from openpyxl import load_workbook

    lines = [
        line(observed_at=f"2026-10-01T00:{m:02d}:00+09:00", ok=m not in (5, 6)) for m in range(60)
    ]
    kadou("import", "-", input="\n".join(lines))
    document = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    jpki = next(s for s in document["services"] if s["system"] == "jpki")
    kadou(
        "report",
        "--month",
        "2026-10",
        "--format",
        "csv",
        "--lang",
        "ja",
        "--out",
        str(tmp_path / "r.csv"),
    )
    raw = (tmp_path / "r.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())  # Excel opens Japanese text correctly
    text = raw.decode("utf-8-sig")
    assert "稼働率" in text and jpki["availability_display"] in text
    rows = list(csv.reader(text.splitlines()))
    assert any("jpki" in cell for row in rows for cell in row)
    kadou(
        "report",
        "--month",
        "2026-10",
        "--format",
        "xlsx",
        "--lang",
        "en",
        "--out",
        str(tmp_path / "r.xlsx"),
    )
    workbook = load_workbook(tmp_path / "r.xlsx")
    values = [cell.value for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert jpki["scheduled_seconds"] in values or any(
        isinstance(v, str) and "jpki" in v for v in values
    )
    out = kadou(
        "report",
        "--month",
        "2026-10",
        "--format",
        "docx",
        "--out",
        str(tmp_path / "r.docx"),
        expect=2,
    )
    assert "--format 'docx'" in out


def test_runners_list_and_forget(kadou: KadouCli) -> None:
    from datetime import UTC, datetime

    from app.store.db import make_engine, session_factory, transaction
    from app.store.ingest import HeartbeatIn, record_heartbeat

    sessions = session_factory(make_engine(kadou.database_url))
    with transaction(sessions) as session:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        record_heartbeat(session, HeartbeatIn("agent-osaka", "osaka", at, 10_000))
    assert "agent-osaka" in kadou("runners", "list") and "osaka" in kadou("runners", "list")
    assert "no runner 'nope'" in kadou("runners", "forget", "nope", expect=2)
    kadou("runners", "forget", "agent-osaka")
    assert "no probe runner has reported yet" in kadou("runners", "list")
