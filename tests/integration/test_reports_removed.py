"""A service or system removed during the month is marked in every report file (§8), with
the words of the pages: "2026-10-11 に削除" / "removed 2026-10-11"."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.reports import pdf_writer
from app.reports.document import MonthlyReportDocument
from app.reports.labels import Lang, removed_text
from app.reports.render import render_monthly
from app.web.i18n import text as page_text
from tests.integration.test_reports_pdf import _samples, _squeeze, _text

REMOVED_AT = "2026-10-11T00:00:00+09:00"
WORDS = {"ja": "2026-10-11 に削除", "en": "removed 2026-10-11"}


@pytest.fixture(scope="module")
def removed() -> MonthlyReportDocument:
    """The sample month with its last service (and, in a copy, a system) removed."""
    samples = _samples()
    systems = tuple(s for s in samples.DEFAULT_SYSTEMS if s.system in ("info-network", "jpki"))
    document: MonthlyReportDocument = copy.deepcopy(samples.monthly_document(systems))
    document["services"][-1]["removed_at"] = REMOVED_AT
    return document


def _marked(document: MonthlyReportDocument, lang: Lang) -> str:
    service = document["services"][-1]
    return f"{service['name'][lang]} ({WORDS[lang]})"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_words_are_the_pages(lang: Lang) -> None:
    assert removed_text(REMOVED_AT, lang) == WORDS[lang]
    assert page_text("removed_on", lang, date="2026-10-11") == WORDS[lang]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_html_marks_the_removed_service(removed: MonthlyReportDocument, lang: Lang) -> None:
    html = render_monthly(removed, "html", lang).decode("utf-8")
    assert _marked(removed, lang) in html  # the service's card (or its system's)
    kept = copy.deepcopy(removed)
    del kept["services"][-1]["removed_at"]
    assert WORDS[lang] not in render_monthly(kept, "html", lang).decode("utf-8")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_csv_marks_the_removed_service(removed: MonthlyReportDocument, lang: Lang) -> None:
    rows = list(csv.reader(io.StringIO(render_monthly(removed, "csv", lang).decode("utf-8-sig"))))
    service = removed["services"][-1]
    marked = [row for row in rows if service["service"] in row and _marked(removed, lang) in row]
    # Its figure row and each of its incidents' rows.
    assert len(marked) == 1 + len(service["incidents"])
    others = [row for row in rows if any(WORDS[lang] in cell for cell in row)]
    assert others == marked


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_xlsx_marks_the_removed_service(removed: MonthlyReportDocument, lang: Lang) -> None:
    workbook = load_workbook(io.BytesIO(render_monthly(removed, "xlsx", lang)))
    cells = [
        str(cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None and WORDS[lang] in str(cell.value)
    ]
    # The summary sheet, the system's sheet, and the incidents sheet when it had any.
    assert cells and set(cells) == {_marked(removed, lang)}
    assert len(cells) >= 2


def test_a_removed_system_is_marked_on_its_section(removed: MonthlyReportDocument) -> None:
    document = copy.deepcopy(removed)
    document["systems"][-1]["removed_at"] = REMOVED_AT
    name = document["systems"][-1]["name"]["en"]
    html = render_monthly(document, "html", "en").decode("utf-8")
    assert f"<h2>{name} (removed 2026-10-11)</h2>" in html
    workbook = load_workbook(io.BytesIO(render_monthly(document, "xlsx", "en")))
    assert any(sheet["A1"].value == f"{name} (removed 2026-10-11)" for sheet in workbook.worksheets)


@pytest.mark.parametrize("writer", ["fpdf2", "weasyprint"])
def test_pdf_marks_the_removed_service(
    removed: MonthlyReportDocument, tmp_path: Path, writer: str
) -> None:
    assert pdf_writer.available(), "fpdf2 and IPAexGothic / DejaVu fonts are installed here"
    with pytest.MonkeyPatch.context() as patch:
        if writer == "weasyprint":
            patch.setattr(pdf_writer, "available", lambda: False)
        pdf = tmp_path / f"{writer}.pdf"
        pdf.write_bytes(render_monthly(removed, "pdf", "ja"))
    text = _text(pdf)
    assert _squeeze(_marked(removed, "ja")) in text
