"""Every surface shows the same truncated figures and flags for the same period.

One month to date, three systems chosen where a display goes wrong if any surface rounds,
recomputes or forgets a flag:

- ``thin``: coverage 98.9957 % (shown 98.99 %, never "99.00%") and "insufficient data";
- ``edge``: availability 99.8953 % (shown 99.89 %) and 869.46 s of budget left
  (14 min 29.4 s, never 29.5 s);
- ``over``: the budget overspent by 0.04 s (shown −0.1 s, never "-0.0s" or 0).

The data goes through ``kadou import``; then the CLI (table and JSON), the API, every page,
each report format and ``/metrics`` are read for October 2026 at the same instant.
"""

from __future__ import annotations

import csv
import html
import importlib
import io
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from prometheus_client.parser import text_string_to_metric_families

from app.reports.formats import format_percent
from tests.support.api import Api, open_api
from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")
MONTH_START = datetime(2026, 10, 1, tzinfo=JST)
# The month to date: 20 days scheduled (S = 1,728,000 s) of 31 (S_P = 2,678,400 s).
NOW = datetime(2026, 10, 21, tzinfo=JST)
SYSTEMS = ("thin", "edge", "over")


@dataclass(frozen=True)
class Shown:
    """What every surface must show for one system (and its one service)."""

    availability: str
    coverage: str
    remaining_seconds: float
    remaining_table: str  # the command line's compact duration
    remaining_ja: str
    remaining_en: str
    insufficient_data: bool


# Worked by hand from SLA-SEMANTICS §5; budget = 0.001 x (S_P - U).
SHOWN = {
    # U = 17,354 s: coverage 1,710,646 / 1,728,000 = 98.9957 %; budget 2,661.046 s.
    "thin": Shown("100.00%", "98.99%", 2661.046, "44m21.0s", "44分21秒", "44 min 21 s", True),
    # D = 1,808.94 s: availability 99.8953 %; remaining 2,678.4 - 1,808.94 = 869.46 s.
    "edge": Shown("99.89%", "100.00%", 869.46, "14m29.4s", "14分29.4秒", "14 min 29.4 s", False),
    # D = 2,678.44 s: availability 99.8449 %; remaining -0.04 s.
    "over": Shown("99.84%", "100.00%", -0.04, "-0.1s", "-0.1秒", "-0.1 s", False),
}

CATALOG_HEAD = """\
timezone: Asia/Tokyo
unknown_policy: exclude
systems:
"""
CATALOG_SYSTEM = """\
  - id: {id}
    name: {{ja: {id}システム, en: {id} system}}
    target: 0.999
    services:
      - id: main
        name: {{ja: 主要業務, en: Core operations}}
        target: 0.999
        checks:
          - id: http
            type: http
            url: http://127.0.0.1:8081/{id}/main/health
            interval: 60s
            timeout: 10s
            confirm: 2
            stale_after: 180s
"""


def at(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=JST) + timedelta(seconds=second)


def observations(system: str) -> list[tuple[datetime, bool]]:
    """One result a minute to NOW, with the system's one event."""
    minutes = []
    moment = MONTH_START
    while moment < NOW:
        minutes.append(moment)
        moment += timedelta(minutes=1)
    if system == "thin":
        # The 00:00 result holds to 00:03 (stale_after); the next comes 17,354 s later.
        gap_start, resume = at(5, 0), at(5, 0, 3) + timedelta(seconds=17_354)
        kept = [m for m in minutes if not gap_start < m < resume]
        return sorted([(m, True) for m in kept] + [(resume, True)])
    # Down from 10:00 (the first of a confirmed run) to the first success.
    down_seconds = {"edge": 1808.94, "over": 2678.44}[system]
    recovered = at(10, 10) + timedelta(seconds=down_seconds)
    rows = [(m, not at(10, 10) <= m < recovered) for m in minutes]
    return sorted([*rows, (recovered, True)])


def import_lines() -> list[str]:
    lines = []
    for system in SYSTEMS:
        for moment, ok in observations(system):
            record = {
                "check": f"{system}/main/http",
                "location": "tokyo",
                "observed_at": moment.isoformat(timespec="milliseconds"),
                "ok": ok,
                "latency_ms": 12.5 if ok else None,
                "detail": None if ok else "status 503",
            }
            lines.append(json.dumps(record))
    return lines


class FrozenDatetime(datetime):
    """``datetime`` whose ``now`` is NOW: the command line reads the wall clock, the app
    its injected clock, and both must evaluate the month at the same instant."""

    @classmethod
    def now(cls, tz: object = None) -> FrozenDatetime:  # type: ignore[override]
        moment = NOW if tz is None else NOW.astimezone(tz)  # type: ignore[arg-type]
        return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)


@pytest.fixture
def world(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, KadouCli]]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        CATALOG_HEAD + "".join(CATALOG_SYSTEM.format(id=system) for system in SYSTEMS),
        encoding="utf-8",
    )
    for api in open_api(database_url, NOW, catalog=catalog, public_read=True):
        kadou = KadouCli(monkeypatch, database_url, str(catalog))
        data = tmp_path / "october.jsonl"
        data.write_text("\n".join(import_lines()) + "\n", encoding="utf-8")
        kadou("import", str(data))
        for module in ("app.cli.report", "app.evaluation"):
            monkeypatch.setattr(importlib.import_module(module), "datetime", FrozenDatetime)
        yield api, kadou


def page_text(markup: str) -> str:
    """The words a reader sees: no markup, scripts, styles or drawings; spaces collapsed."""
    markup = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


def sections(text: str, marker: str) -> dict[str, str]:
    """Each system's part of a page or report: from ``marker`` with its id to the next."""
    starts = sorted((text.index(marker.format(id=system)), system) for system in SYSTEMS)
    ends = [start for start, _ in starts[1:]] + [len(text)]
    return {system: text[start:end] for (start, system), end in zip(starts, ends, strict=True)}


def check_figures(item: dict[str, Any], system: str) -> None:
    """A figures object of a JSON surface (report, API, CLI)."""
    shown = SHOWN[system]
    assert item["availability_display"] == shown.availability, system
    assert format_percent(item["coverage"], 2) == shown.coverage, system
    assert item["error_budget_remaining_seconds"] == shown.remaining_seconds, system
    assert item["insufficient_data"] is shown.insufficient_data, system


def check_json_document(document: dict[str, Any]) -> None:
    assert document["period"]["label"] == "2026-10"
    assert [item["system"] for item in document["systems"]] == list(SYSTEMS)
    for item in document["systems"] + document["services"]:
        check_figures(item, item["system"])


def check_cli(kadou: KadouCli) -> dict[str, Any]:
    table = kadou("report", "--month", "2026-10")
    rows = {line.split()[0]: line for line in table.splitlines() if line[:4] in SYSTEMS}
    for system, shown in SHOWN.items():
        for name in (system, f"{system}/main"):
            # name, target, availability, met, scheduled, downtime, unknown, coverage, left
            words = rows[name].split()
            assert (words[2], words[7], words[8]) == (
                shown.availability,
                shown.coverage,
                shown.remaining_table,
            ), rows[name]
            assert rows[name].endswith("insufficient data") is shown.insufficient_data, rows[name]
    document = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    check_json_document(document)
    return document


def check_api(api: Api) -> dict[str, Any]:
    document = api.get("/api/v1/availability?month=2026-10").json()
    check_json_document(document)
    listing = api.get("/api/v1/systems").json()
    assert listing["period"]["label"] == "2026-10"
    for system in listing["systems"] + [api.get(f"/api/v1/systems/{s}").json() for s in SYSTEMS]:
        for figures in [system["month_to_date"]] + [s["month_to_date"] for s in system["services"]]:
            check_figures(figures, system["id"])
    return document


def check_pages(api: Api) -> None:
    overview = sections(page_text(api.get("/").text), "{id}システム ")
    for system, shown in SHOWN.items():
        card = overview[system]
        assert f"{shown.availability} / 目標値 99.9%" in card, card
        assert f"許容停止時間の残り: {shown.remaining_ja} /" in card, card
        assert ("データ不足" in card) is shown.insufficient_data, card
        for path in (f"/systems/{system}", f"/systems/{system}/main"):
            detail = page_text(api.get(path).text)
            assert f"稼働実績 {shown.availability} / 目標値 99.9%" in detail, detail
            assert f"データ取得率 {shown.coverage}" in detail, detail
            assert f"許容停止時間の残り {shown.remaining_ja}" in detail, detail
            assert ("データ不足" in detail) is shown.insufficient_data, detail
    status = sections(page_text(api.get("/status").text), "{id}システム ")
    for system, shown in SHOWN.items():
        assert f"稼働率: {shown.availability} " in status[system], status[system]
        assert ("データ不足" in status[system]) is shown.insufficient_data, status[system]


def report(api: Api, kind: str) -> bytes:
    answer = api.get(f"/api/v1/reports/monthly?month=2026-10&format={kind}&lang=en")
    assert answer.status_code == 200, answer.text
    return bytes(answer.content)


def check_report_text(text: str) -> None:
    """The HTML and PDF reports: one card per system, the summary table before them."""
    cards = sections(text[text.index("Legend") :], "{id} system {id} ")
    for system, shown in SHOWN.items():
        card = cards[system]
        assert f"Availability {shown.availability}" in card, card
        assert f"Coverage {shown.coverage}" in card, card
        assert f"Budget remaining {shown.remaining_en} (" in card, card
        assert ("Insufficient data" in card) is shown.insufficient_data, card


def check_files(api: Api, tmp_path: Path) -> None:
    check_json_document(json.loads(report(api, "json")))

    # The figures come first, up to the blank line before the incidents.
    figures_part = re.split(r"\r?\n\r?\n", report(api, "csv").decode("utf-8-sig"))[0]
    table = csv.DictReader(io.StringIO(figures_part))
    rows = [row for row in table if row["System ID"] in SYSTEMS]
    assert len(rows) == 2 * len(SYSTEMS)
    for row in rows:
        shown = SHOWN[row["System ID"]]
        assert row["Availability"] == shown.availability, row
        assert format_percent(float(row["Coverage"]), 2) == shown.coverage, row
        assert float(row["Budget remaining (s)"]) == shown.remaining_seconds, row
        assert row["Insufficient data"] == ("yes" if shown.insufficient_data else "no"), row

    workbook = load_workbook(io.BytesIO(report(api, "xlsx")))
    for system, shown in SHOWN.items():
        cells = list(workbook[system].iter_rows(values_only=True))
        header = cells.index(next(row for row in cells if row[0] == "Level"))
        for row in cells[header + 1 : header + 3]:
            figures = dict(zip(cells[header], row, strict=True))
            assert format_percent(float(figures["Availability"]), 2) == shown.availability, figures
            assert format_percent(float(figures["Coverage"]), 2) == shown.coverage, figures
            assert figures["Budget remaining (s)"] == shown.remaining_seconds, figures
            assert figures["Insufficient data"] == ("yes" if shown.insufficient_data else "no")

    check_report_text(page_text(report(api, "html").decode("utf-8")))

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report(api, "pdf"))
    extracted = subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    check_report_text(re.sub(r"\s+", " ", extracted))


def check_metrics(api: Api) -> None:
    values = {
        (sample.name, sample.labels["system"]): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.labels.get("period") == "2026-10"
    }
    for system, shown in SHOWN.items():
        availability = values[("kadou_sla_availability_ratio", system)]
        assert format_percent(availability, 2) == shown.availability
        scheduled = values[("kadou_sla_scheduled_seconds", system)]
        unknown = values[("kadou_sla_unknown_seconds", system)]
        coverage = (scheduled - unknown) / scheduled
        assert format_percent(coverage, 2) == shown.coverage
        assert (coverage < 0.99) is shown.insufficient_data
        remaining = values[("kadou_sla_error_budget_remaining_seconds", system)]
        assert remaining == shown.remaining_seconds


def test_every_surface_shows_the_same_figures(world: tuple[Api, KadouCli], tmp_path: Path) -> None:
    api, kadou = world
    from_cli = check_cli(kadou)
    from_api = check_api(api)
    # The same numbers, not just the same shown ones: one evaluation behind both.
    assert from_cli["systems"] == from_api["systems"]
    assert from_cli["services"] == from_api["services"]
    check_pages(api)
    check_files(api, tmp_path)
    check_metrics(api)
