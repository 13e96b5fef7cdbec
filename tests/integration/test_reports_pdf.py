"""PDF reports, read back with poppler-utils: pdftotext for the text, pdffonts for the
embedded fonts, pdftoppm to prove the pages render.

Without poppler-utils these tests skip, saying so; with CI=true they fail instead, since
CI installs it and a silent skip there would hide a broken PDF.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from app.reports.document import FiscalYearReportDocument, MonthlyReportDocument
from app.reports.render import render_fiscal_year, render_monthly


def _samples() -> ModuleType:
    """The sample-document factory beside the unit tests (shared with the benchmark)."""
    if "report_samples" in sys.modules:
        return sys.modules["report_samples"]
    path = Path(__file__).resolve().parents[1] / "unit" / "report_samples.py"
    spec = importlib.util.spec_from_file_location("report_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_samples"] = module
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install poppler-utils to test PDF reports"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def monthly() -> MonthlyReportDocument:
    samples = _samples()
    # Two systems (four services) keep the test fast and cover recovery targets,
    # exclusions, unknown time and insufficient data.
    systems = tuple(
        s for s in samples.DEFAULT_SYSTEMS if s.system in ("info-network", "mynaportal")
    )
    document: MonthlyReportDocument = samples.monthly_document(systems)
    return document


@pytest.fixture(scope="module")
def monthly_ja_pdf(
    monthly: MonthlyReportDocument, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "kadou-2026-10-ja.pdf"
    path.write_bytes(render_monthly(monthly, "pdf", "ja"))
    return path


def _text(pdf: Path) -> str:
    """The PDF's text without whitespace: a table cell wraps a long name over lines, and
    pdftotext's reading order keeps a cell's lines together but breaks them anywhere."""
    return "".join(_run(_tool("pdftotext"), str(pdf), "-").split())


def _squeeze(text: str) -> str:
    return "".join(text.split())


def test_japanese_pdf_has_the_numbers(monthly: MonthlyReportDocument, monthly_ja_pdf: Path) -> None:
    assert monthly_ja_pdf.read_bytes().startswith(b"%PDF-")
    text = _text(monthly_ja_pdf)
    for label in (
        "月次稼働率報告",
        "令和8年10月",
        "稼働率",
        "許容停止時間",
        "除外期間",
        "データ不足",
    ):
        assert label in text, label
    for figures in [*monthly["services"], *monthly["systems"]]:
        assert str(figures["availability_display"]) in text
        assert _squeeze(figures["name"]["ja"]) in text
        assert f"({figures['scheduled_seconds']:,}秒)" in text
    for window in monthly["exclusions"]:
        if window["scope"].split("/")[0] in ("info-network", "mynaportal"):
            assert _squeeze(window["reason"]) in text
    assert monthly["catalog_sha256"][:12] in text


def test_japanese_fonts_are_embedded(monthly_ja_pdf: Path) -> None:
    fonts = _run(_tool("pdffonts"), str(monthly_ja_pdf))
    rows = fonts.splitlines()[2:]
    assert rows, fonts
    assert any(family in fonts for family in ("IPAexGothic", "IPAGothic", "Noto-Sans-CJK")), fonts
    # Every font embedded (column "emb"): a reader without them would show boxes.
    assert all(" yes " in row for row in rows), fonts


def test_pdf_renders_to_png(monthly_ja_pdf: Path, tmp_path: Path) -> None:
    _run(
        _tool("pdftoppm"),
        "-r",
        "40",
        "-f",
        "1",
        "-l",
        "1",
        "-png",
        str(monthly_ja_pdf),
        str(tmp_path / "page"),
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    png = pages[0].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # A blank page compresses to almost nothing; text, tables and charts do not.
    assert len(png) > 8_000


def test_english_pdf(monthly: MonthlyReportDocument, tmp_path: Path) -> None:
    pdf = tmp_path / "en.pdf"
    pdf.write_bytes(render_monthly(monthly, "pdf", "en"))
    text = _text(pdf)
    assert "Monthlyavailabilityreport" in text and "October2026" in text
    assert "Errorbudget" in text and "稼働率" not in text
    for figures in monthly["services"]:
        assert str(figures["availability_display"]) in text
        assert _squeeze(figures["name"]["en"]) in text


def test_fiscal_year_pdf(tmp_path: Path) -> None:
    document: FiscalYearReportDocument = _samples().fiscal_year_document(2026)
    pdf = tmp_path / "fy.pdf"
    pdf.write_bytes(render_fiscal_year(document, "pdf", "ja"))
    text = _text(pdf)
    assert "令和8年度" in text and "2027年（令和9年）" in text
    assert "4月" in text and "3月" in text
    for row in document["rows"]:
        assert str(row["availability_display"]) in text
        assert _squeeze(row["name"]["ja"]) in text
    _run(
        _tool("pdftoppm"), "-r", "30", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "fy")
    )
    assert (tmp_path / "fy-1.png").stat().st_size > 5_000


def _page_texts(pdf: Path) -> list[str]:
    pages = int(
        next(
            line.split()[-1]
            for line in _run(_tool("pdfinfo"), str(pdf)).splitlines()
            if line.startswith("Pages:")
        )
    )
    return [
        _squeeze(_run(_tool("pdftotext"), "-f", str(n), "-l", str(n), str(pdf), "-"))
        for n in range(1, pages + 1)
    ]


def test_every_chart_title_has_its_chart_on_the_same_page(monthly_ja_pdf: Path) -> None:
    # The first page used to end with "月間稼働状況:" and the legend, the chart elsewhere.
    legend_title = _squeeze("凡例（月間稼働状況の色と模様）")
    for number, text in enumerate(_page_texts(monthly_ja_pdf), start=1):
        text = text.replace(legend_title, "")
        assert not text.endswith("月間稼働状況:"), number
        for title, chart_text in (("月間稼働状況", "1815222931"), ("日別稼働率", "目標値")):
            position = text.find(title)
            while position >= 0:
                following = text.find(title, position + 1)
                chart = text[position : following if following >= 0 else len(text)]
                assert chart_text in chart, (number, title, chart[:80])
                position = following


def test_a_system_with_one_service_prints_once(
    monthly: MonthlyReportDocument, monthly_ja_pdf: Path
) -> None:
    text = _text(monthly_ja_pdf)
    # One card per system, plus one per service of a system with several (mynaportal).
    cards = len(monthly["systems"]) + sum(
        1 for s in monthly["services"] if s["system"] == "mynaportal"
    )
    assert text.count("許容停止時間の残り") == cards
    assert "情報連携(info-network/main)" in text  # the sole service is named on its system


def test_the_same_document_gives_the_same_bytes(monthly: MonthlyReportDocument) -> None:
    # A closed month's PDF regenerated later must be the same file (its versions and the
    # evidence bundles compare digests): nothing may come from the clock or from chance.
    for lang in ("ja", "en"):
        assert render_monthly(monthly, "pdf", lang) == render_monthly(monthly, "pdf", lang)


def test_the_pdf_writer_is_used_and_weasyprint_is_its_fallback(
    monthly: MonthlyReportDocument, monthly_ja_pdf: Path, tmp_path: Path
) -> None:
    from app.reports import pdf_writer

    assert pdf_writer.available(), "fpdf2 and IPAexGothic / DejaVu fonts are installed here"
    info = _run(_tool("pdfinfo"), str(monthly_ja_pdf))
    assert "Kadou" in info and "WeasyPrint" not in info
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf_writer, "available", lambda: False)
        fallback = tmp_path / "weasyprint.pdf"
        fallback.write_bytes(render_monthly(monthly, "pdf", "ja"))
    assert "WeasyPrint" in _run(_tool("pdfinfo"), str(fallback))
    # Both print every figure and label of the HTML report; only the layout engine differs.
    written, laid_out = _text(monthly_ja_pdf), _text(fallback)
    for figures in [*monthly["services"], *monthly["systems"]]:
        for text in (
            str(figures["availability_display"]),
            f"({figures['scheduled_seconds']:,}秒)",
            _squeeze(figures["name"]["ja"]),
        ):
            assert text in written and text in laid_out, text
    for word in ("許容停止時間の残り", "障害復旧目標時間", "除外期間", "報告情報"):
        assert written.count(word) == laid_out.count(word), word


def test_a_card_longer_than_a_page_goes_on_over_the_next_pages(
    monthly: MonthlyReportDocument, tmp_path: Path
) -> None:
    document = copy.deepcopy(monthly)
    service = next(s for s in document["services"] if s["incidents"])
    first = service["incidents"][0]
    # 120 incidents, each starting a minute later, so that every row can be found.
    service["incidents"] = [
        {**first, "start": f"2026-10-12T{9 + n // 60:02d}:{n % 60:02d}:00+09:00"}
        for n in range(120)
    ]
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render_monthly(document, "pdf", "ja"))
    pages = _page_texts(pdf)
    starts = [f"2026-10-12{9 + n // 60:02d}:{n % 60:02d}:00" for n in range(120)]
    text = "".join(pages)
    assert all(start in text for start in starts)
    # The incident table runs over several pages, each row whole on one of them.
    holding = [
        n for n, page in enumerate(pages) if "2026-10-1209:" in page or "2026-10-1210:" in page
    ]
    assert len(holding) >= 3
