"""Excel workbooks (openpyxl): numbers as numbers, with percentage formats.

Percentages: Excel rounds a cell to its number format when it displays it, so a stored
0.998996 shown as ``0.00%`` would read "99.90%" and hide a miss. The availability cell
therefore holds the engine's *truncated* figure (the ``availability_display`` string as a
number: "99.89%" → 0.9989) with exactly the display's decimals, so Excel shows the same
text as every other format; the untruncated ratio is kept in the next column ("exact"),
with a plain ratio format that is never read as a headline figure. Coverage, for which
the engine gives no display string, is truncated the same way.

Instants are written as naive local datetimes in the report's time zone (Excel has no
offsets); each sheet says which zone in its second row.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring

from app.reports.document import (
    Figures,
    FiscalYearReportDocument,
    FiscalYearRow,
    MonthlyReportDocument,
)
from app.reports.formats import (
    display_ratio,
    percent_decimals,
    spreadsheet_text,
    truncate_ratio,
)
from app.reports.labels import (
    Lang,
    fiscal_year_title,
    kind_text,
    label,
    local_instant,
    parse_instant,
    period_heading,
    policy_text,
    recovery_text,
    yes_no,
)
from app.reports.rows import (
    EXCLUSION_COLUMNS,
    FIGURE_COLUMNS,
    INCIDENT_COLUMNS,
    FigureRow,
    FiscalYearColumn,
    figure_rows,
    figure_values,
    fiscal_year_columns,
    group_name,
    incident_rows,
    system_groups,
)

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")
TITLE_FONT = Font(bold=True, size=14)
MISSED_FONT = Font(color="B00020", bold=True)
INSUFFICIENT_FONT = Font(color="8A5A00", bold=True)
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
EXACT_RATIO_FORMAT = "0.0000000000"
SECONDS_FORMAT = "#,##0.###"
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def percent_format(decimals: int) -> str:
    return "0%" if decimals == 0 else "0." + "0" * decimals + "%"


def _sheet_name(wanted: str, taken: set[str]) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    base = _SHEET_NAME_FORBIDDEN.sub("_", wanted)[:31] or "sheet"
    name, serial = base, 2
    while name.lower() in taken:
        suffix = f"~{serial}"
        name, serial = base[: 31 - len(suffix)] + suffix, serial + 1
    taken.add(name.lower())
    return name


def _put(sheet: Worksheet, row: int, column: int, value: Any) -> Cell | MergedCell:
    """Write one cell; text is always typed as text and never starts a formula.

    openpyxl types a string starting with "=" as a formula and "#N/A" as an error, so
    text is neutralised (``spreadsheet_text``) and then typed as a string explicitly;
    characters a workbook cannot hold (control characters) become U+FFFD instead of
    failing the whole report.
    """
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = spreadsheet_text(ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def _write_header(sheet: Worksheet, row: int, headings: Sequence[str]) -> None:
    for column, heading in enumerate(headings, start=1):
        cell = _put(sheet, row, column, heading)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _set_widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _title(sheet: Worksheet, title: str, subtitle: str) -> None:
    _put(sheet, 1, 1, title).font = TITLE_FONT
    _put(sheet, 2, 1, subtitle)


def _percent_cell(
    sheet: Worksheet, row: int, column: int, display: str | None, missed: bool = False
) -> None:
    if display is None or not display.rstrip("%").strip().replace(".", "", 1).isdigit():
        # No figure (nothing scheduled or observed): show the engine's dash, never a 0 %.
        _put(sheet, row, column, display)
        return
    cell = _put(sheet, row, column, float(display_ratio(display)))
    cell.number_format = percent_format(percent_decimals(display))
    if missed:
        cell.font = MISSED_FONT


def _target_cell(sheet: Worksheet, row: int, column: int, target: float, display: str) -> None:
    cell = _put(sheet, row, column, target)
    cell.number_format = percent_format(percent_decimals(display, default=1))


# Column widths by column, so that they follow ``FIGURE_COLUMNS`` whatever its order.
FIGURE_WIDTHS = {"level": 10, "system_id": 22, "service_id": 14, "name": 36, "target": 9}
FIGURE_WIDTHS |= {"availability": 12, "result": 9, "availability_exact": 16, "coverage": 11}
FIGURE_WIDTHS |= {"insufficient_data": 10}
_SECONDS_COLUMNS = frozenset(key for key in FIGURE_COLUMNS if key.endswith("_seconds"))


def _write_figure_row(sheet: Worksheet, row_number: int, row: FigureRow, lang: Lang) -> None:
    figures: Figures = row.figures
    values = figure_values(row, lang)
    for column, key in enumerate(FIGURE_COLUMNS, start=1):
        if key == "target":
            _target_cell(sheet, row_number, column, figures["target"], figures["target_display"])
        elif key == "availability":
            _percent_cell(
                sheet,
                row_number,
                column,
                figures["availability_display"],
                missed=figures["met"] is False,
            )
        elif key == "availability_exact":
            _put(sheet, row_number, column, values[key]).number_format = EXACT_RATIO_FORMAT
        elif key == "coverage":
            if figures["coverage"] is not None:
                decimals = percent_decimals(figures["availability_display"])
                coverage = truncate_ratio(figures["coverage"], decimals)
                cell = _put(sheet, row_number, column, float(coverage))
                cell.number_format = percent_format(decimals)
        else:
            cell = _put(sheet, row_number, column, values[key])
            if key in _SECONDS_COLUMNS:
                cell.number_format = SECONDS_FORMAT
            elif key == "result" and figures["met"] is False:
                cell.font = MISSED_FONT
            elif key == "insufficient_data" and figures["insufficient_data"]:
                cell.font = INSUFFICIENT_FONT


def _figure_table(sheet: Worksheet, first_row: int, rows: list[FigureRow], lang: Lang) -> None:
    _write_header(sheet, first_row, [label(key, lang) for key in FIGURE_COLUMNS])
    for offset, row in enumerate(rows, start=1):
        _write_figure_row(sheet, first_row + offset, row, lang)
    _set_widths(sheet, [FIGURE_WIDTHS.get(key, 14) for key in FIGURE_COLUMNS])
    sheet.freeze_panes = f"E{first_row + 1}"


def _provenance_rows(document: dict[str, Any], lang: Lang) -> list[tuple[str, Any]]:
    period = document["period"]
    rows: list[tuple[str, Any]] = [
        (label("period", lang), f"{period['label']} [{period['start']}, {period['end']})"),
        (label("timezone", lang), period["timezone"]),
    ]
    if "unknown_policy" in document:
        rows.append((label("unknown_policy", lang), policy_text(document["unknown_policy"], lang)))
    rows += [
        (label("generated_at", lang), document["generated_at"]),
        (label("data_cutoff", lang), document["data_cutoff"]),
        (label("catalog_sha256", lang), document["catalog_sha256"]),
        (label("catalog_source", lang), document.get("catalog_source", "")),
    ]
    return rows


def _incidents_sheet(
    workbook: Workbook,
    document: MonthlyReportDocument,
    taken: set[str],
    subtitle: str,
    timezone: ZoneInfo,
    lang: Lang,
) -> None:
    """Every incident of the month, one per row, systems' and services' alike."""
    incidents = workbook.create_sheet(_sheet_name(label("sheet_incidents", lang), taken))
    _title(incidents, label("incidents", lang), subtitle)
    _write_header(
        incidents,
        4,
        [label(key, lang) for key in INCIDENT_COLUMNS],
    )
    for row_number, entry in enumerate(incident_rows(document), start=5):
        incident = entry.incident
        values: list[Any] = [
            label(f"level_{entry.row.level}", lang),
            entry.row.system,
            entry.row.service,
            entry.row.display_name(lang),
            local_instant(incident["start"], timezone),
            local_instant(incident["end"], timezone)
            if incident["end"] is not None
            else label("ongoing", lang),
            incident["duration_seconds"],
            incident["downtime_seconds"],
            incident["recovery_target_seconds"],
            recovery_text(incident["recovery_met"], lang),
        ]
        for column, value in enumerate(values, start=1):
            cell = _put(incidents, row_number, column, value)
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            if incident["recovery_met"] is False and column == 10:
                cell.font = MISSED_FONT
    _set_widths(incidents, (10, 22, 14, 36, 20, 20, 14, 14, 14, 12))
    incidents.freeze_panes = "A5"


def _exclusions_sheet(
    workbook: Workbook,
    document: MonthlyReportDocument,
    taken: set[str],
    subtitle: str,
    timezone: ZoneInfo,
    lang: Lang,
) -> None:
    """The exclusion windows the month's figures used."""
    exclusions = workbook.create_sheet(_sheet_name(label("sheet_exclusions", lang), taken))
    _title(exclusions, label("exclusions", lang), subtitle)
    _write_header(
        exclusions,
        4,
        [label(key, lang) for key in EXCLUSION_COLUMNS],
    )
    for row_number, window in enumerate(document.get("exclusions", []), start=5):
        values = [
            window["id"],
            window["scope"],
            kind_text(window["kind"], lang),
            local_instant(window["start"], timezone),
            local_instant(window["end"], timezone),
            window["reason"],
            window["created_by"],
            local_instant(window["created_at"], timezone),
            yes_no(window["retroactive"], lang),
        ]
        for column, value in enumerate(values, start=1):
            cell = _put(exclusions, row_number, column, value)
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
    _set_widths(exclusions, (8, 26, 12, 20, 20, 40, 16, 20, 10))
    exclusions.freeze_panes = "A5"


def render_monthly_xlsx(document: MonthlyReportDocument, lang: Lang) -> bytes:
    timezone = ZoneInfo(document["period"]["timezone"])
    times_note = label("instants_in", lang).format(timezone=document["period"]["timezone"])
    period_title = period_heading(document["period"]["label"], lang)
    subtitle = f"{period_title} / {times_note}"
    workbook = Workbook()
    taken: set[str] = set()

    summary = workbook.active
    assert summary is not None
    summary.title = _sheet_name(label("sheet_summary", lang), taken)
    _title(summary, f"{label('report_title_monthly', lang)} — {period_title}", times_note)
    provenance = _provenance_rows(dict(document), lang)
    for offset, (key, value) in enumerate(provenance):
        _put(summary, 4 + offset, 1, key).font = HEADER_FONT
        _put(summary, 4 + offset, 2, value)
    table_row = 4 + len(provenance) + 1
    _put(summary, table_row, 1, label("systems", lang)).font = HEADER_FONT
    system_rows = [row for row in figure_rows(document) if row.level == "system"]
    _figure_table(summary, table_row + 1, system_rows, lang)
    summary.column_dimensions["B"].width = 30

    for group in system_groups(document):
        sheet = workbook.create_sheet(_sheet_name(group.system_id, taken))
        _title(sheet, group_name(group, lang), subtitle)
        rows = [row for row in figure_rows(document) if row.system == group.system_id]
        _figure_table(sheet, 4, rows, lang)

    _incidents_sheet(workbook, document, taken, subtitle, timezone, lang)
    _exclusions_sheet(workbook, document, taken, subtitle, timezone, lang)
    return _save(workbook, document["generated_at"])


def _fiscal_year_cell(
    sheet: Worksheet,
    row_number: int,
    number: int,
    column: FiscalYearColumn,
    row: FiscalYearRow,
    is_system: bool,
) -> None:
    value = column.value(row)
    missed = column.missed(row)
    if column.kind == "target":
        _target_cell(sheet, row_number, number, row["target"], row["target_display"])
    elif column.kind == "percent":
        _percent_cell(sheet, row_number, number, value if isinstance(value, str) else None, missed)
    elif column.kind == "exact":
        _put(sheet, row_number, number, value).number_format = EXACT_RATIO_FORMAT
    elif column.kind == "coverage":
        if isinstance(value, float | int):
            decimals = percent_decimals(row["availability_display"])
            cell = _put(sheet, row_number, number, float(truncate_ratio(float(value), decimals)))
            cell.number_format = percent_format(decimals)
    else:
        cell = _put(sheet, row_number, number, value)
        if column.kind == "flag" and missed:
            cell.font = INSUFFICIENT_FONT
        elif missed:
            cell.font = MISSED_FONT
        elif is_system and number <= 4:
            cell.font = HEADER_FONT


def render_fiscal_year_xlsx(document: FiscalYearReportDocument, lang: Lang) -> bytes:
    period = document["period"]
    year_title = fiscal_year_title(period["fiscal_year"], lang)
    workbook = Workbook()
    taken: set[str] = set()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _sheet_name(year_title, taken)
    _title(sheet, f"{label('report_title_fiscal_year', lang)} — {year_title}", period["label"])
    columns = fiscal_year_columns(document, lang)
    _write_header(sheet, 4, [column.heading for column in columns])
    for row_number, row in enumerate(document["rows"], start=5):
        is_system = row["service"] is None
        for number, column in enumerate(columns, start=1):
            _fiscal_year_cell(sheet, row_number, number, column, row, is_system)
    widths = {"text": 14, "target": 9, "percent": 12, "exact": 16, "coverage": 11, "flag": 10}
    _set_widths(sheet, [widths[column.kind] for column in columns])
    sheet.column_dimensions["B"].width = 22
    sheet.column_dimensions["D"].width = 40
    sheet.freeze_panes = "E5"

    info = workbook.create_sheet(_sheet_name(label("sheet_report", lang), taken))
    for offset, (key, value) in enumerate(_provenance_rows(dict(document), lang), start=1):
        _put(info, offset, 1, key).font = HEADER_FONT
        _put(info, offset, 2, value)
    _set_widths(info, (28, 80))
    return _save(workbook, document["generated_at"])


def _save(workbook: Workbook, generated_at: str) -> bytes:
    """The workbook's bytes, the same for the same document whenever it is rendered.

    openpyxl stamps the file with the wall clock twice: the document properties
    (created, modified) and each zip entry's date. Both get the report's ``generated_at``
    instead, so a regenerated closed month is byte-identical to the exported one.
    """
    stamp = parse_instant(generated_at).astimezone(UTC).replace(tzinfo=None)
    workbook.properties.created = stamp
    workbook.properties.creator = "Kadou"
    saved = io.BytesIO()
    workbook.save(saved)
    # Saving sets "modified" to now; write the properties again with the report's instant.
    workbook.properties.modified = stamp
    core_properties = tostring(workbook.properties.to_tree())
    # Zip dates are local wall-clock fields without a zone; the report's instant in UTC,
    # no earlier than 1980 (the format's epoch).
    date_time = max(stamp, datetime(1980, 1, 1)).timetuple()[:6]
    output = io.BytesIO()
    with (
        zipfile.ZipFile(saved) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=date_time)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            body = core_properties if entry.filename == ARC_CORE else source.read(entry)
            target.writestr(fixed, body)
    return output.getvalue()
