"""The fiscal-year sheet flags "insufficient data" (coverage below 99 %) for the year and
for each month, in every format, and never calls a year with 24 % coverage 達成 (met)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from report_samples import fiscal_year_document

from app.reports.document import FiscalYearReportDocument
from app.reports.labels import Lang, label
from app.reports.render import render_fiscal_year

OCTOBER = 6  # April is 0


def _thin_year() -> FiscalYearReportDocument:
    document = fiscal_year_document(2026)
    row = document["rows"][0]
    # Ten months without data: the two observed months were fine, so the engine says met.
    row.update(coverage=0.2400019, insufficient_data=True, met=True)
    row["availability_display"] = "99.90%"
    month = row["months"][OCTOBER]
    assert month["label"] == "2026-10"
    month.update(coverage=0.5, insufficient_data=True, met=True)
    return document


def _scope(document: FiscalYearReportDocument) -> tuple[str, str | None]:
    return document["rows"][0]["system"], document["rows"][0]["service"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_csv_flags_the_year_and_the_month(lang: Lang) -> None:
    document = _thin_year()
    payload = render_fiscal_year(document, "csv", lang).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(payload, newline="")))
    thin = dict(zip(header, rows[0], strict=True))
    assert thin[label("insufficient_data", lang)] == label("yes", lang)
    assert float(thin[label("coverage", lang)]) == 0.2400019
    assert thin[label("result", lang)] == label("insufficient_data", lang)
    october = [column for column in header if "2026-10" in column]
    flag = next(c for c in october if c.endswith(label("insufficient_data", lang)))
    assert thin[flag] == label("yes", lang)
    assert label("met", lang) not in rows[0]
    second = dict(zip(header, rows[1], strict=True))
    assert second[flag] == label("no", lang)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_workbook_has_coverage_and_flags(lang: Lang) -> None:
    document = _thin_year()
    workbook = load_workbook(io.BytesIO(render_fiscal_year(document, "xlsx", lang)))
    sheet = workbook.worksheets[0]
    header = [str(cell.value) for cell in sheet[4]]
    values = {heading: cell for heading, cell in zip(header, sheet[5], strict=True)}
    coverage = values[label("coverage", lang)]
    assert coverage.value == 0.24 and coverage.number_format == "0.00%"
    assert values[label("insufficient_data", lang)].value == label("yes", lang)
    assert values[label("result", lang)].value == label("insufficient_data", lang)
    flag = next(
        h for h in header if "2026-10" in h and h.endswith(label("insufficient_data", lang))
    )
    assert values[flag].value == label("yes", lang)
    assert label("met", lang) not in [cell.value for cell in sheet[5]]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_page_flags_the_year_and_the_month(lang: Lang) -> None:
    document = _thin_year()
    html = render_fiscal_year(document, "html", lang).decode()
    system, _ = _scope(document)
    start = html.index(f'data-scope="{system}"')
    row = html[start : html.index("</tr>", start)]
    assert label("insufficient_data", lang) in row
    assert "24.00%" in row
    assert label("met", lang) not in row.replace(label("insufficient_data", lang), "")
    cells = row.split("<td")
    october = next(cell for cell in cells if 'data-month="2026-10"' in cell)
    assert "⚠" in october and "insufficient" in october
    september = next(cell for cell in cells if 'data-month="2026-09"' in cell)
    assert "⚠" not in september
