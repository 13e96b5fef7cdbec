"""The render entry points: JSON round trip, names, content types, refusals."""

from __future__ import annotations

import json

import pytest
from report_samples import fiscal_year_document, monthly_document

from app.reports.document import DocumentError
from app.reports.labels import Lang
from app.reports.render import (
    FORMATS,
    content_type,
    file_name,
    render_fiscal_year,
    render_monthly,
)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_json_is_the_document_itself(lang: Lang) -> None:
    monthly = monthly_document()
    assert json.loads(render_monthly(monthly, "json", lang)) == monthly
    fiscal_year = fiscal_year_document()
    assert json.loads(render_fiscal_year(fiscal_year, "json", lang)) == fiscal_year


def test_file_names_and_content_types() -> None:
    monthly, fiscal_year = monthly_document(), fiscal_year_document(2026)
    assert file_name(monthly, "pdf", "ja") == "kadou-2026-10-ja.pdf"
    assert file_name(fiscal_year, "xlsx", "en") == "kadou-FY2026-en.xlsx"
    assert content_type("csv") == "text/csv; charset=utf-8"
    assert content_type("pdf") == "application/pdf"
    assert content_type("xlsx").endswith("spreadsheetml.sheet")
    assert {content_type(fmt) for fmt in FORMATS} == {
        "text/csv; charset=utf-8",
        "application/json",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/html; charset=utf-8",
        "application/pdf",
    }


def test_refuses_unknown_format_language_and_kind() -> None:
    monthly = monthly_document()
    with pytest.raises(ValueError, match="format 'docx'"):
        render_monthly(monthly, "docx", "ja")
    with pytest.raises(ValueError, match="language 'fr'"):
        render_monthly(monthly, "csv", "fr")
    with pytest.raises(DocumentError, match="render_fiscal_year"):
        render_monthly(fiscal_year_document(), "csv", "ja")
    with pytest.raises(DocumentError, match="render_monthly"):
        render_fiscal_year(monthly, "csv", "ja")


def test_missing_field_is_named() -> None:
    monthly = dict(monthly_document())
    del monthly["catalog_sha256"]
    with pytest.raises(DocumentError, match="catalog_sha256"):
        render_monthly(monthly, "html", "en")
