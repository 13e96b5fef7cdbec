"""Workbooks read back with openpyxl: numbers are numbers, percentages never round up."""

from __future__ import annotations

import copy
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from report_samples import TOKYO, fiscal_year_document, monthly_document

from app.reports.document import MonthlyReportDocument
from app.reports.labels import Lang, kind_text, label
from app.reports.render import render_fiscal_year, render_monthly


def _shown_percent(value: Any, number_format: str) -> str:
    """What Excel shows for ``value`` under a "0.00%" style format: it rounds half up."""
    decimals = len(number_format.split(".")[1].rstrip("%")) if "." in number_format else 0
    shown = (Decimal(repr(value)) * 100).quantize(Decimal(1).scaleb(-decimals), "ROUND_HALF_UP")
    return f"{shown}%"


def _workbook(document: dict[str, Any], lang: Lang) -> Workbook:
    return load_workbook(io.BytesIO(render_monthly(document, "xlsx", lang)))


def _table(sheet: Worksheet, header_row: int) -> list[dict[str, Any]]:
    header = [str(cell.value) for cell in sheet[header_row]]
    return [
        {heading: cell for heading, cell in zip(header, row, strict=True)}
        for row in sheet.iter_rows(min_row=header_row + 1)
        if row[0].value is not None
    ]


@pytest.fixture(scope="module")
def document() -> MonthlyReportDocument:
    return monthly_document()


def test_sheets(document: MonthlyReportDocument) -> None:
    workbook = _workbook(dict(document), "ja")
    assert workbook.sheetnames == [
        "概要",
        *[system["system"] for system in document["systems"]],
        "障害",
        "除外期間",
    ]
    assert _workbook(dict(document), "en").sheetnames[0] == "Summary"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_system_sheets_hold_the_numbers(document: MonthlyReportDocument, lang: Lang) -> None:
    workbook = _workbook(dict(document), lang)
    for service in document["services"]:
        rows = _table(workbook[service["system"]], 4)
        row = next(r for r in rows if r[label("service_id", lang)].value == service["service"])
        availability = row[label("availability", lang)]
        # A number, not text (1.0 comes back from the file as the int 1).
        assert isinstance(availability.value, int | float)
        assert availability.number_format.endswith("%")
        assert (
            _shown_percent(availability.value, availability.number_format)
            == (service["availability_display"])
        )
        assert row[label("availability_exact", lang)].value == service["availability"]
        assert row[label("scheduled_seconds", lang)].value == service["scheduled_seconds"]
        assert row[label("downtime_seconds", lang)].value == service["downtime_seconds"]
        assert row[label("unknown_seconds", lang)].value == service["unknown_seconds"]
        assert (
            row[label("excluded_disaster_seconds", lang)].value
            == service["excluded_seconds"]["disaster"]
        )
        assert row[label("error_budget_seconds", lang)].value == service["error_budget_seconds"]
        target = row[label("target", lang)]
        assert target.value == service["target"]
        assert _shown_percent(target.value, target.number_format) == service["target_display"]
        assert row[label("name", lang)].value == service["name"][lang]


def test_summary_lists_each_system(document: MonthlyReportDocument) -> None:
    sheet = _workbook(dict(document), "ja")["概要"]
    header_row = next(cell.row for cell in sheet["A"] if cell.value == label("level", "ja"))
    rows = {r[label("system_id", "ja")].value: r for r in _table(sheet, header_row)}
    assert sorted(rows) == sorted(system["system"] for system in document["systems"])
    for system in document["systems"]:
        row = rows[system["system"]]
        assert row["判定"].value == ("達成" if system["met"] else "未達")
        assert row["名称"].value == system["name"]["ja"]
    provenance = {
        sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=2).value for r in range(4, 11)
    }
    assert provenance[label("catalog_sha256", "ja")] == document["catalog_sha256"]


def test_a_near_miss_is_not_shown_rounded_up(document: MonthlyReportDocument) -> None:
    # 99.8996 %: a plain 0.00% cell would show "99.90%" and hide the miss.
    near_miss: dict[str, Any] = copy.deepcopy(dict(document))
    service = near_miss["services"][0]
    service.update(availability=0.998996, availability_display="99.89%", met=False)
    row = next(
        r
        for r in _table(_workbook(near_miss, "en")[service["system"]], 4)
        if r["Service ID"].value == service["service"]
    )
    cell = row["Availability"]
    assert _shown_percent(cell.value, cell.number_format) == "99.89%"
    assert row["Availability (exact ratio)"].value == 0.998996
    assert row["Result"].value == "missed"


def test_incidents_and_exclusions_sheets(document: MonthlyReportDocument) -> None:
    workbook = _workbook(dict(document), "en")
    incidents = _table(workbook["Incidents"], 4)
    expected = [
        (scope["system"], scope.get("service"), incident)
        for scope in [*document["systems"], *document["services"]]
        for incident in scope["incidents"]
    ]
    assert len(incidents) == len(expected)
    by_key = {(r["System ID"].value, r["Service ID"].value, r["Start"].value): r for r in incidents}
    for system, service, incident in expected:
        start = datetime.fromisoformat(incident["start"]).astimezone(TOKYO).replace(tzinfo=None)
        row = by_key[(system, service, start)]
        assert row["Duration (s)"].value == incident["duration_seconds"]
        assert row["Downtime in period (s)"].value == incident["downtime_seconds"]
        assert row["Start"].is_date

    windows = {r["ID"].value: r for r in _table(workbook["Exclusions"], 4)}
    for window in document["exclusions"]:
        row = windows[window["id"]]
        assert row["Reason"].value == window["reason"]
        assert row["Registered by"].value == window["created_by"]
        assert row["Kind"].value == kind_text(window["kind"], "en")


def test_fiscal_year_sheet() -> None:
    document = fiscal_year_document(2026)
    workbook = load_workbook(io.BytesIO(render_fiscal_year(document, "xlsx", "ja")))
    assert workbook.sheetnames[0] == "令和8年度"
    sheet = workbook["令和8年度"]
    header = [str(cell.value) for cell in sheet[4]]
    first_month = header.index("4月 (2026-04)")
    assert header[first_month + 11] == "3月 (2027-03)"
    assert header[8] == label("coverage", "ja") and header[9] == label("insufficient_data", "ja")
    for row_cells, expected in zip(sheet.iter_rows(min_row=5), document["rows"], strict=True):
        assert row_cells[1].value == expected["system"]
        year_cell = row_cells[5]
        assert (
            _shown_percent(year_cell.value, year_cell.number_format)
            == (expected["availability_display"])
        )
        month_cells = row_cells[first_month : first_month + 12]
        assert [_shown_percent(c.value, c.number_format) for c in month_cells] == [
            month["availability_display"] for month in expected["months"]
        ]
