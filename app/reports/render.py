"""Render a report document into CSV, JSON, XLSX, HTML or PDF, in Japanese or English.

The entry points the CLI, the API and the scheduled export call. They take the document
the SLA engine built (a ``dict`` as loaded from JSON, or the ``TypedDict``) and never
compute a figure themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.reports import pdf_writer
from app.reports.csv_format import render_fiscal_year_csv, render_monthly_csv
from app.reports.document import (
    FiscalYearReportDocument,
    MonthlyReportDocument,
    check_fiscal_year,
    check_monthly,
)
from app.reports.html_format import monthly_view, render_fiscal_year_html, render_monthly_html
from app.reports.labels import Lang, check_lang
from app.reports.pdf_format import html_to_pdf
from app.reports.xlsx_format import render_fiscal_year_xlsx, render_monthly_xlsx

FORMATS = ("csv", "json", "xlsx", "html", "pdf")

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def content_type(fmt: str) -> str:
    return _CONTENT_TYPES[check_format(fmt)]


def file_name(document: Mapping[str, Any], fmt: str, lang: str) -> str:
    """``kadou-2026-10-ja.pdf``, ``kadou-FY2026-en.xlsx``: the period label is safe ASCII."""
    period_label = str(document["period"]["label"])
    safe_label = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in period_label
    )
    # An amended month's later versions are written beside the first, never over it (§9).
    version = document.get("version")
    suffix = f"-v{version}" if isinstance(version, int) and version > 1 else ""
    return f"kadou-{safe_label}-{check_lang(lang)}{suffix}.{check_format(fmt)}"


def _json(document: Mapping[str, Any]) -> bytes:
    # The document as it is: ensure_ascii=False keeps Japanese readable; sort_keys keeps a
    # regenerated closed month byte-identical.
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def render_monthly(
    document: Mapping[str, Any] | MonthlyReportDocument, fmt: str, lang: str
) -> bytes:
    checked = check_monthly(document)
    language = check_lang(lang)
    match check_format(fmt):
        case "csv":
            return render_monthly_csv(checked, language)
        case "json":
            return _json(checked)
        case "xlsx":
            return render_monthly_xlsx(checked, language)
        case "html":
            return render_monthly_html(checked, language).encode()
        case _:
            return _monthly_pdf(checked, language)


def _monthly_pdf(document: MonthlyReportDocument, lang: Lang) -> bytes:
    """The monthly PDF: drawn directly when fpdf2 and its fonts are installed (about twenty
    times faster), laid out by WeasyPrint from the print HTML otherwise."""
    if pdf_writer.available():
        return pdf_writer.write_monthly_pdf(monthly_view(document, lang, charts_as="drawing"))
    return html_to_pdf(render_monthly_html(document, lang, for_print=True))


def render_fiscal_year(
    document: Mapping[str, Any] | FiscalYearReportDocument, fmt: str, lang: str
) -> bytes:
    checked = check_fiscal_year(document)
    language = check_lang(lang)
    match check_format(fmt):
        case "csv":
            return render_fiscal_year_csv(checked, language)
        case "json":
            return _json(checked)
        case "xlsx":
            return render_fiscal_year_xlsx(checked, language)
        case "html":
            return render_fiscal_year_html(checked, language).encode()
        case _:
            return html_to_pdf(render_fiscal_year_html(checked, language))
