"""CSV: UTF-8 with a BOM, so that Excel opens Japanese text correctly on double-click.

Layout (documented here because a CSV has no sheets): sections separated by one empty row.

1. The figures table, from the first row: a header row in the chosen language, then one
   row per system followed by its services. A tool that reads "the first table" (Excel,
   pandas with ``nrows``) gets the figures alone.
2. A row holding only the section title (障害 / Incidents), its header row, one row per
   incident (system rows and service rows alike, like the figures).
3. The same for the exclusion windows.
4. The same for the report's provenance: period, time zone, unknown-time policy,
   generated at, data cut-off, catalog hash and source, as label/value rows.

Seconds and ratios are written as plain numbers (the float's shortest repr, lossless);
availability also appears as the engine's truncated display string. Instants keep the
document's ISO 8601 form with its offset, so nothing is lost to a time zone conversion.
Text that a spreadsheet would read as a formula gets a leading single quote
(``formats.spreadsheet_text``); numbers are never touched.
"""

from __future__ import annotations

import csv
import io

from app.reports.document import FiscalYearReportDocument, MonthlyReportDocument
from app.reports.formats import spreadsheet_text
from app.reports.labels import (
    Lang,
    kind_text,
    label,
    policy_text,
    recovery_text,
    yes_no,
)
from app.reports.rows import (
    EXCLUSION_COLUMNS,
    FIGURE_COLUMNS,
    INCIDENT_COLUMNS,
    Cell,
    figure_rows,
    figure_values,
    fiscal_year_columns,
    incident_rows,
)

BOM = "\ufeff"


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return spreadsheet_text(value)
    return str(value)


def _encode(rows: list[list[Cell]]) -> bytes:
    buffer = io.StringIO()
    # lineterminator \r\n is what Excel and RFC 4180 expect.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return (BOM + buffer.getvalue()).encode("utf-8")


def render_monthly_csv(document: MonthlyReportDocument, lang: Lang) -> bytes:
    rows: list[list[Cell]] = [[label(column, lang) for column in FIGURE_COLUMNS]]
    for row in figure_rows(document):
        values = figure_values(row, lang)
        rows.append([values[column] for column in FIGURE_COLUMNS])

    rows += [[], [label("incidents", lang)], [label(c, lang) for c in INCIDENT_COLUMNS]]
    for entry in incident_rows(document):
        incident = entry.incident
        rows.append(
            [
                label(f"level_{entry.row.level}", lang),
                entry.row.system,
                entry.row.service,
                entry.row.display_name(lang),
                incident["start"],
                incident["end"] if incident["end"] is not None else label("ongoing", lang),
                incident["duration_seconds"],
                incident["downtime_seconds"],
                incident["recovery_target_seconds"],
                recovery_text(incident["recovery_met"], lang),
            ]
        )

    rows += [[], [label("exclusions", lang)], [label(c, lang) for c in EXCLUSION_COLUMNS]]
    for window in document.get("exclusions", []):
        rows.append(
            [
                window["id"],
                window["scope"],
                kind_text(window["kind"], lang),
                window["start"],
                window["end"],
                window["reason"],
                window["created_by"],
                window["created_at"],
                yes_no(window["retroactive"], lang),
            ]
        )

    period = document["period"]
    rows += [
        [],
        [label("section_report", lang)],
        [label("period", lang), period["label"], period["start"], period["end"]],
        [label("timezone", lang), period["timezone"]],
        [label("unknown_policy", lang), policy_text(document["unknown_policy"], lang)],
        [label("generated_at", lang), document["generated_at"]],
        [label("data_cutoff", lang), document["data_cutoff"]],
        [label("catalog_sha256", lang), document["catalog_sha256"]],
        [label("catalog_source", lang), document.get("catalog_source", "")],
    ]
    return _encode(rows)


def render_fiscal_year_csv(document: FiscalYearReportDocument, lang: Lang) -> bytes:
    """One row per indicator, like the policy sheet: target, the year's figure, each month.

    The columns are ``rows.fiscal_year_columns`` (the workbook's too): the year's
    availability, result, exact ratio, coverage and "insufficient data" flag; then each
    month's truncated display string, each month's exact ratio, each month's flag.
    """
    period = document["period"]
    columns = fiscal_year_columns(document, lang)
    rows: list[list[Cell]] = [[column.heading for column in columns]]
    for row in document["rows"]:
        rows.append([column.value(row) for column in columns])
    rows += [
        [],
        [label("section_report", lang)],
        [label("period", lang), period["label"], period["start"], period["end"]],
        [label("timezone", lang), period["timezone"]],
        [label("generated_at", lang), document["generated_at"]],
        [label("data_cutoff", lang), document["data_cutoff"]],
        [label("catalog_sha256", lang), document["catalog_sha256"]],
        [label("catalog_source", lang), document.get("catalog_source", "")],
    ]
    return _encode(rows)
