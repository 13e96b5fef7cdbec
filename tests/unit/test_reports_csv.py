"""CSV reports parsed back with the csv module and checked against the document."""

from __future__ import annotations

import csv
import io

import pytest
from report_samples import fiscal_year_document, monthly_document

from app.reports.document import FiscalYearReportDocument, MonthlyReportDocument
from app.reports.labels import Lang, label
from app.reports.render import render_fiscal_year, render_monthly


def _sections(payload: bytes) -> list[list[list[str]]]:
    """The file's sections (separated by an empty row), each a list of rows."""
    assert payload.startswith(b"\xef\xbb\xbf"), "the CSV must start with a UTF-8 BOM for Excel"
    rows = list(csv.reader(io.StringIO(payload.decode("utf-8-sig"), newline="")))
    sections: list[list[list[str]]] = [[]]
    for row in rows:
        if not row:
            sections.append([])
        else:
            sections[-1].append(row)
    return sections


@pytest.fixture(scope="module")
def document() -> MonthlyReportDocument:
    return monthly_document()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_figures_table_matches_the_document(document: MonthlyReportDocument, lang: Lang) -> None:
    figures, _, _, _ = _sections(render_monthly(document, "csv", lang))
    header, *rows = figures
    assert header[0] == label("level", lang) and label("availability", lang) in header
    by_scope = {(row[1], row[2]): dict(zip(header, row, strict=True)) for row in rows}
    expected = [(s["system"], "") for s in document["systems"]] + [
        (s["system"], s["service"]) for s in document["services"]
    ]
    assert sorted(by_scope) == sorted(expected)

    for service in document["services"]:
        row = by_scope[(service["system"], service["service"])]
        assert row[label("name", lang)] == service["name"][lang]
        assert row[label("availability", lang)] == service["availability_display"]
        assert float(row[label("availability_exact", lang)]) == service["availability"]
        assert int(row[label("scheduled_seconds", lang)]) == service["scheduled_seconds"]
        assert int(row[label("downtime_seconds", lang)]) == service["downtime_seconds"]
        assert int(row[label("unknown_seconds", lang)]) == service["unknown_seconds"]
        assert (
            int(row[label("excluded_planned_seconds", lang)])
            == service["excluded_seconds"]["planned"]
        )
        assert (
            float(row[label("error_budget_remaining_seconds", lang)])
            == service["error_budget_remaining_seconds"]
        )
        assert row[label("result", lang)] == label("met" if service["met"] else "missed", lang)
        assert row[label("insufficient_data", lang)] == label(
            "yes" if service["insufficient_data"] else "no", lang
        )


def test_systems_precede_their_services(document: MonthlyReportDocument) -> None:
    _, *rows = _sections(render_monthly(document, "csv", "en"))[0]
    systems_seen: list[str] = []
    for row in rows:
        if row[2] == "":
            systems_seen.append(row[1])
        else:
            assert systems_seen[-1] == row[1], f"service {row[1]}/{row[2]} not under its system"


def test_incidents_and_exclusions_sections(document: MonthlyReportDocument) -> None:
    _, incidents, exclusions, provenance = _sections(render_monthly(document, "csv", "ja"))
    assert incidents[0] == [label("incidents", "ja")]
    incident_rows = incidents[2:]
    expected = [
        (scope["system"], str(scope.get("service") or ""), incident)
        for scope in [*document["systems"], *document["services"]]
        for incident in scope["incidents"]
    ]
    assert len(incident_rows) == len(expected)
    listed = {(row[1], row[2], row[4]): row for row in incident_rows}
    for system, service, incident in expected:
        row = listed[(system, service, incident["start"])]
        assert row[5] == incident["end"]
        assert int(row[6]) == incident["duration_seconds"]
        assert int(row[7]) == incident["downtime_seconds"]

    assert exclusions[0] == [label("exclusions", "ja")]
    windows = {int(row[0]): row for row in exclusions[2:]}
    assert sorted(windows) == [w["id"] for w in document["exclusions"]]
    for window in document["exclusions"]:
        row = windows[window["id"]]
        assert (row[1], row[3], row[4], row[5], row[6]) == (
            window["scope"],
            window["start"],
            window["end"],
            window["reason"],
            window["created_by"],
        )
        assert row[2] == label(f"kind_{window['kind']}", "ja")

    values = {row[0]: row[1:] for row in provenance[1:]}
    assert values[label("catalog_sha256", "ja")] == [document["catalog_sha256"]]
    assert values[label("data_cutoff", "ja")] == [document["data_cutoff"]]
    assert values[label("generated_at", "ja")] == [document["generated_at"]]


def test_fiscal_year_crosses_the_calendar_year() -> None:
    document: FiscalYearReportDocument = fiscal_year_document(2026)
    (header, *rows), _ = _sections(render_fiscal_year(document, "csv", "ja"))
    assert "令和8年度 稼働率" in header
    month_columns = [column for column in header if column.endswith(")") and "月 (" in column]
    assert month_columns[0] == "4月 (2026-04)" and month_columns[-1] == "3月 (2027-03)"
    assert len(month_columns) == 12
    assert len(rows) == len(document["rows"])
    for row, expected in zip(rows, document["rows"], strict=True):
        assert row[1] == expected["system"] and row[2] == (expected["service"] or "")
        assert row[5] == expected["availability_display"]
        assert float(row[7]) == expected["availability"]
        first_month = header.index(month_columns[0])
        assert row[first_month : first_month + 12] == [
            month["availability_display"] for month in expected["months"]
        ]
