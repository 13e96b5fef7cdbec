"""The WeasyPrint path refuses to print Japanese without a Japanese font (the PDF would show
empty boxes), and says what to install."""

from __future__ import annotations

import pytest

from app.reports import pdf_format


def test_japanese_text_without_a_japanese_font_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    monkeypatch.setattr(pdf_format, "installed_cjk_font", lambda: None)
    with pytest.raises(pdf_format.PdfUnavailableError, match="fonts-ipaexfont-gothic"):
        pdf_format.html_to_pdf("<p>月次稼働率報告</p>")


def test_latin_text_needs_no_japanese_font(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    monkeypatch.setattr(pdf_format, "installed_cjk_font", lambda: None)
    assert pdf_format.html_to_pdf("<p>Monthly availability report</p>").startswith(b"%PDF")
