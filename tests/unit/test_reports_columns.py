"""One column list for the CSV and the workbook, and one word per thing across formats."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from report_samples import monthly_document

from app.reports.labels import Lang, kind_text, label
from app.reports.render import render_monthly
from app.reports.rows import EXCLUSION_COLUMNS, FIGURE_COLUMNS, INCIDENT_COLUMNS


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_csv_and_workbook_list_the_same_columns_in_the_same_order(lang: Lang) -> None:
    document = monthly_document()
    csv_rows = list(
        csv.reader(io.StringIO(render_monthly(document, "csv", lang).decode("utf-8-sig")))
    )
    expected = [label(key, lang) for key in FIGURE_COLUMNS]
    assert csv_rows[0] == expected
    incident_header = csv_rows[csv_rows.index([label("incidents", lang)]) + 1]
    assert incident_header == [label(key, lang) for key in INCIDENT_COLUMNS]

    workbook = load_workbook(io.BytesIO(render_monthly(document, "xlsx", lang)))
    system_sheet = workbook[document["systems"][0]["system"]]
    assert [cell.value for cell in system_sheet[4]] == expected
    summary = workbook.worksheets[0]
    header_row = next(c.row for c in summary["A"] if c.value == label("level", lang))
    assert [cell.value for cell in summary[header_row]] == expected
    incidents = workbook[label("sheet_incidents", lang)]
    assert [c.value for c in incidents[4]] == [label(key, lang) for key in INCIDENT_COLUMNS]
    exclusions = workbook[label("sheet_exclusions", lang)]
    assert [c.value for c in exclusions[4]] == [label(key, lang) for key in EXCLUSION_COLUMNS]


def test_coverage_and_its_flag_sit_together() -> None:
    position = FIGURE_COLUMNS.index("coverage")
    assert FIGURE_COLUMNS[position + 1] == "insufficient_data"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("kind", ["planned", "disaster"])
def test_a_window_kind_is_named_as_its_excluded_time(kind: str, lang: Lang) -> None:
    # The exclusions table said 災害 where the figures and the form say 災害による停止.
    assert kind_text(kind, lang) == label(f"excluded_{kind}", lang)
