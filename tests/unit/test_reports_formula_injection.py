"""Text a user typed (an exclusion reason, a registrant's name) is never live in a
spreadsheet: CSV and XLSX cells that would start a formula are neutralised as OWASP
recommends (a leading single quote), XLSX text is typed as text, and numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from report_samples import monthly_document

from app.reports.document import MonthlyReportDocument
from app.reports.formats import spreadsheet_text
from app.reports.labels import label
from app.reports.render import render_monthly

HOSTILE = '=1+2*WEBSERVICE("http://x/")'
STARTS = ("=", "+", "-", "@", "\t", "\r")


def _hostile_document() -> MonthlyReportDocument:
    document = monthly_document()
    windows = document["exclusions"]
    assert len(windows) >= 3
    windows[0]["reason"] = HOSTILE
    windows[1]["reason"] = "@SUM(A1:A9)"
    windows[1]["created_by"] = "+cmd|' /C calc'!A0"
    windows[2]["reason"] = "-2+3"
    return document


@pytest.mark.parametrize("start", STARTS)
def test_spreadsheet_text_prefixes_a_quote(start: str) -> None:
    assert spreadsheet_text(f"{start}1+1") == f"'{start}1+1"


def test_spreadsheet_text_leaves_plain_text() -> None:
    for text in ("計画停止", "maintenance - db", "", "2026-10-01T00:00:00+09:00", "99.93%"):
        assert spreadsheet_text(text) == text


def test_csv_cells_are_inert() -> None:
    document = _hostile_document()
    payload = render_monthly(document, "csv", "ja").decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(payload, newline="")) for cell in row]
    assert f"'{HOSTILE}" in cells
    assert "'@SUM(A1:A9)" in cells and "'+cmd|' /C calc'!A0" in cells and "'-2+3" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]


def test_csv_negative_numbers_stay_numbers() -> None:
    document = _hostile_document()
    service = document["services"][0]
    service["error_budget_remaining_seconds"] = -12.5
    payload = render_monthly(document, "csv", "en").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(payload, newline="")))
    header = rows[0]
    row = next(r for r in rows[1:] if r[1:3] == [service["system"], service["service"]])
    column = header.index(label("error_budget_remaining_seconds", "en"))
    assert row[column] == "-12.5"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_xlsx_cells_are_text_not_formulas(lang: Any) -> None:
    document = _hostile_document()
    document["services"][0]["error_budget_remaining_seconds"] = -12.5
    workbook = load_workbook(io.BytesIO(render_monthly(document, "xlsx", lang)))
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in STARTS, (sheet.title, cell.coordinate)
    exclusions = workbook[label("sheet_exclusions", lang)]
    reasons = [row[5].value for row in exclusions.iter_rows(min_row=5)]
    assert f"'{HOSTILE}" in reasons and "'-2+3" in reasons
    numbers = [
        cell.value
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "n"
    ]
    assert -12.5 in numbers


def test_xlsx_control_characters_do_not_break_the_workbook() -> None:
    document = _hostile_document()
    document["exclusions"][0]["reason"] = "bell\x07 and nul\x00"
    workbook = load_workbook(io.BytesIO(render_monthly(document, "xlsx", "en")))
    reasons = [row[5].value for row in workbook["Exclusions"].iter_rows(min_row=5)]
    assert "bell\ufffd and nul\ufffd" in reasons
