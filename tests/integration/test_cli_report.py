"""``kadou report``: bad options get one line and exit 2; any window can be asked for."""

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


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_an_unknown_system_or_service_names_the_choices(kadou: KadouCli) -> None:
    out = one_line(kadou("report", "--month", "2026-10", "--system", "nope", expect=2))
    assert "unknown system 'nope'" in out
    assert "choose one of card-management, jpki, info-network, mynaportal" in out
    out = one_line(
        kadou(
            "report", "--month", "2026-10", "--system", "mynaportal", "--service", "nope",
            expect=2,
        )
    )  # fmt: skip
    assert "unknown service 'nope' of mynaportal; choose one of records, self-info, notices" in out
    out = one_line(kadou("report", "--service", "main", expect=2))
    assert "--service needs --system" in out


@pytest.mark.parametrize("output", ["pdf", "json"])
def test_a_missing_output_folder_is_named(kadou: KadouCli, tmp_path: Path, output: str) -> None:
    target = tmp_path / "no" / "such" / "x.pdf"
    out = one_line(
        kadou("report", "--month", "2026-10", "--format", output, "--out", str(target), expect=2)
    )
    assert f"the folder {target.parent} does not exist" in out
    assert not (tmp_path / "no").exists()


def test_a_report_file_goes_into_a_folder_under_its_own_name(
    kadou: KadouCli, tmp_path: Path
) -> None:
    out = kadou("report", "--month", "2026-10", "--format", "csv", "--out", str(tmp_path))
    written = [path for path in tmp_path.iterdir() if path.suffix == ".csv"]
    assert len(written) == 1 and f"wrote {written[0]}" in out
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--fiscal-year", "26", "--fiscal-year: fiscal year '26' is not valid: write it as FY2026"),
        ("--fiscal-year", "0026", "--fiscal-year 0026: the year must be between 2000 and 2100"),
        ("--fiscal-year", "2101", "write it as YYYY, e.g. 2026"),
        ("--month", "1999-12", "--month 1999-12: the year must be between 2000 and 2100"),
        ("--month", "2026-13", "--month: month '2026-13' is not valid: write it as YYYY-MM"),
    ],
)
def test_years_outside_2000_to_2100_are_refused(
    kadou: KadouCli, option: str, value: str, message: str
) -> None:
    assert message in one_line(kadou("report", option, value, expect=2))


def test_fiscal_year_accepts_both_forms(kadou: KadouCli) -> None:
    for value in ("2026", "FY2026"):
        document = json.loads(kadou("report", "--fiscal-year", value, "--format", "json"))
        assert document["period"]["label"] == "FY2026"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "fr", "--format", "csv"], "--lang 'fr': choose ja or en"),
        (["--lang", "en"], "--lang applies to csv, xlsx, html and pdf"),
        (["--lang", "en", "--format", "json"], "--lang applies to csv, xlsx, html and pdf"),
        (["--format", "docx"], "--format 'docx': choose table, json, csv"),
    ],
)
def test_language_and_format_are_checked_for_every_output(
    kadou: KadouCli, args: list[str], message: str
) -> None:
    assert message in one_line(kadou("report", "--month", "2026-10", *args, expect=2))


def line(observed_at: str, ok: bool) -> str:
    return json.dumps(
        {"check": "jpki/main/http", "location": "tokyo", "observed_at": observed_at, "ok": ok}
    )


def test_any_window_with_start_and_end(kadou: KadouCli) -> None:
    # Up from 00:00, down (confirmed by two failures) from 00:10:30 to 00:11:30.
    lines = [
        line("2026-10-01T00:00:00+09:00", True),
        line("2026-10-01T00:01:00+09:00", True),
        line("2026-10-01T00:10:30+09:00", False),
        line("2026-10-01T00:11:00+09:00", False),
        line("2026-10-01T00:11:30+09:00", True),
    ]
    kadou("import", "-", input="\n".join(lines))
    document = json.loads(
        kadou(
            "report", "--start", "2026-10-01T00:10:00", "--end", "2026-10-01T00:12:15",
            "--system", "jpki", "--service", "main", "--format", "json",
        )
    )  # fmt: skip
    period = document["period"]
    assert period["label"] == "2026-10-01T00:10:00+09:00/2026-10-01T00:12:15+09:00"
    figures = document["services"][0]
    assert figures["scheduled_seconds"] == 135
    assert figures["downtime_seconds"] == 60
    table = kadou("report", "--start", "2026-10-01T00:10:00+09:00", "--end", "2026-10-01T00:12:15")
    assert "2026-10-01T00:10:00+09:00/2026-10-01T00:12:15+09:00" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-10-01T00:00"], "--end: a range needs both start and end"),
        (["--start", "2026-10-02", "--end", "2026-10-01"], "--end: the end must be after"),
        (["--start", "tuesday", "--end", "2026-10-01"], "--start: 'tuesday' is not an ISO 8601"),
        (["--month", "2026-10", "--start", "2026-10-01", "--end", "2026-10-02"], "only one of"),
        (
            ["--start", "2026-10-01", "--end", "2026-10-02", "--format", "pdf"],
            "--start/--end apply to table and json",
        ),
    ],
)
def test_a_bad_window_is_refused(kadou: KadouCli, args: list[str], message: str) -> None:
    assert message in one_line(kadou("report", *args, expect=2))
