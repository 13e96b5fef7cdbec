"""The order in which every format lists figures: each system, then its services.

Shared by all renderers so that the CSV, the workbook and the PDF list rows in the same
order, which is what a reader comparing two formats expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.reports.document import (
    Figures,
    FiscalYearMonth,
    FiscalYearReportDocument,
    FiscalYearRow,
    Incident,
    LocalizedText,
    MonthlyReportDocument,
    ServiceFigures,
    SystemFigures,
)
from app.reports.labels import (
    Lang,
    assessed_text,
    fiscal_year_title,
    label,
    met_text,
    month_heading,
    month_version_text,
    name_text,
    yes_no,
)

Level = Literal["system", "service"]


@dataclass(frozen=True, slots=True)
class FigureRow:
    level: Level
    system: str
    # None on a system row.
    service: str | None
    name: LocalizedText
    figures: Figures

    def display_name(self, lang: Lang) -> str:
        """Its name in ``lang``, marked "removed 2026-10-11" when it left the catalog."""
        return name_text(self.name, self.figures.get("removed_at"), lang)

    @property
    def scope(self) -> str:
        """The scope string exclusions use: "info-network" or "info-network/main"."""
        return self.system if self.service is None else f"{self.system}/{self.service}"


@dataclass(frozen=True, slots=True)
class SystemGroup:
    system: SystemFigures | None
    system_id: str
    name: LocalizedText
    services: tuple[ServiceFigures, ...]


def system_groups(document: MonthlyReportDocument) -> list[SystemGroup]:
    """Systems in document order, each with its services; services of a system the
    document does not list (a one-service report) get a group of their own."""
    services_by_system: dict[str, list[ServiceFigures]] = {}
    for service in document["services"]:
        services_by_system.setdefault(service["system"], []).append(service)
    groups = [
        SystemGroup(
            system,
            system["system"],
            system["name"],
            tuple(services_by_system.pop(system["system"], [])),
        )
        for system in document["systems"]
    ]
    for system_id, services in services_by_system.items():
        groups.append(SystemGroup(None, system_id, services[0]["system_name"], tuple(services)))
    return groups


def group_name(group: SystemGroup, lang: Lang) -> str:
    """A system section's name, marked when the system left the catalog in the period."""
    removed_at = None if group.system is None else group.system.get("removed_at")
    return name_text(group.name, removed_at, lang)


def figure_rows(document: MonthlyReportDocument) -> list[FigureRow]:
    rows: list[FigureRow] = []
    for group in system_groups(document):
        if group.system is not None:
            rows.append(FigureRow("system", group.system_id, None, group.name, group.system))
        rows.extend(
            FigureRow("service", service["system"], service["service"], service["name"], service)
            for service in group.services
        )
    return rows


@dataclass(frozen=True, slots=True)
class IncidentRow:
    row: FigureRow
    incident: Incident


def incident_rows(document: MonthlyReportDocument) -> list[IncidentRow]:
    return [
        IncidentRow(row, incident)
        for row in figure_rows(document)
        for incident in row.figures["incidents"]
    ]


# The columns of the figure, incident and exclusion tables (label keys): the one list the
# CSV and the workbook both write, so both list the same things in the same order. The
# "insufficient data" flag sits right after the coverage it is about.
FIGURE_COLUMNS = (
    "level",
    "system_id",
    "service_id",
    "name",
    "target",
    "availability",
    "result",
    "availability_exact",
    "coverage",
    "insufficient_data",
    "scheduled_seconds",
    "excluded_planned_seconds",
    "excluded_disaster_seconds",
    "downtime_seconds",
    "unknown_seconds",
    "error_budget_seconds",
    "error_budget_remaining_seconds",
    "recovery_target_seconds",
)

Cell = str | int | float | None


def figure_values(row: FigureRow, lang: Lang) -> dict[str, Cell]:
    """One row of the figure table, keyed by ``FIGURE_COLUMNS``: text in ``lang``, numbers
    as the document holds them (the workbook then gives them number formats)."""
    figures = row.figures
    values: dict[str, Cell] = {
        "level": label(f"level_{row.level}", lang),
        "system_id": row.system,
        "service_id": row.service,
        "name": row.display_name(lang),
        "target": figures["target_display"],
        "availability": figures["availability_display"],
        "result": met_text(figures["met"], lang),
        "availability_exact": figures["availability"],
        "coverage": figures["coverage"],
        "insufficient_data": yes_no(figures["insufficient_data"], lang),
        "scheduled_seconds": figures["scheduled_seconds"],
        "excluded_planned_seconds": figures["excluded_seconds"]["planned"],
        "excluded_disaster_seconds": figures["excluded_seconds"]["disaster"],
        "downtime_seconds": figures["downtime_seconds"],
        "unknown_seconds": figures["unknown_seconds"],
        "error_budget_seconds": figures["error_budget_seconds"],
        "error_budget_remaining_seconds": figures["error_budget_remaining_seconds"],
        "recovery_target_seconds": figures["recovery_target_seconds"],
    }
    assert tuple(values) == FIGURE_COLUMNS
    return values


INCIDENT_COLUMNS = (
    "level",
    "system_id",
    "service_id",
    "name",
    "incident_start",
    "incident_end",
    "duration_seconds",
    "downtime_in_period_seconds",
    "recovery_target_seconds",
    "recovery",
)
EXCLUSION_COLUMNS = (
    "exclusion_id",
    "scope",
    "kind",
    "start",
    "end",
    "reason",
    "created_by",
    "created_at",
    "retroactive",
)


# --- the fiscal-year sheet ------------------------------------------------------------------

FiscalYearKind = Literal["text", "target", "percent", "exact", "coverage", "flag"]


@dataclass(frozen=True, slots=True)
class FiscalYearColumn:
    """One column of the fiscal-year table, the same for the CSV and the workbook.

    ``value`` is what the CSV writes (display strings for percentages, the exact ratio as
    a float, yes/no for flags); the workbook turns it into a typed cell by ``kind``.
    """

    heading: str
    kind: FiscalYearKind
    value: Callable[[FiscalYearRow], Cell]
    # Shown as a miss (red) when true; flags are highlighted when set.
    missed: Callable[[FiscalYearRow], bool] = lambda row: False


def fiscal_year_month_labels(document: FiscalYearReportDocument) -> list[str]:
    return [month["label"] for month in document["rows"][0]["months"]] if document["rows"] else []


def fiscal_year_month_versions(document: FiscalYearReportDocument, lang: Lang) -> list[str]:
    """Each month's version in words ("第2版" / "v2"), "" for an open month: a closed
    month is one version for every row, so the sheet says it once, in its heading."""
    if not document["rows"]:
        return []
    return [month_version_text(month, lang) or "" for month in document["rows"][0]["months"]]


def _month_column(
    index: int, pick_value: Callable[[FiscalYearMonth], Cell]
) -> Callable[[FiscalYearRow], Cell]:
    return lambda row: pick_value(row["months"][index])


def fiscal_year_columns(document: FiscalYearReportDocument, lang: Lang) -> list[FiscalYearColumn]:
    """Indicator, target, the year (availability, result, exact ratio, coverage, flag),
    then each month's availability, each month's exact ratio, each month's flag."""
    year_title = fiscal_year_title(document["period"]["fiscal_year"], lang)
    months = fiscal_year_month_labels(document)

    def yes_no_flag(flag: bool | None) -> str | None:
        # None: a month that has not started has no flag either way.
        return None if flag is None else yes_no(flag, lang)

    columns = [
        FiscalYearColumn(
            label("level", lang),
            "text",
            lambda row: label("level_system" if row["service"] is None else "level_service", lang),
        ),
        FiscalYearColumn(label("system_id", lang), "text", lambda row: row["system"]),
        FiscalYearColumn(label("service_id", lang), "text", lambda row: row["service"]),
        FiscalYearColumn(
            label("indicator", lang),
            "text",
            lambda row: name_text(row["name"], row.get("removed_at"), lang),
        ),
        FiscalYearColumn(label("target", lang), "target", lambda row: row["target_display"]),
        FiscalYearColumn(
            f"{year_title} {label('availability', lang)}",
            "percent",
            lambda row: row["availability_display"],
            missed=lambda row: row["met"] is False,
        ),
        FiscalYearColumn(
            label("result", lang),
            "text",
            lambda row: assessed_text(row["met"], row.get("insufficient_data"), lang),
            missed=lambda row: row["met"] is False,
        ),
        FiscalYearColumn(
            f"{year_title} {label('availability_exact', lang)}",
            "exact",
            lambda row: row["availability"],
        ),
        FiscalYearColumn(label("coverage", lang), "coverage", lambda row: row.get("coverage")),
        FiscalYearColumn(
            label("insufficient_data", lang),
            "flag",
            lambda row: yes_no_flag(row.get("insufficient_data", False)),
            missed=lambda row: bool(row.get("insufficient_data")),
        ),
    ]
    versions = fiscal_year_month_versions(document, lang)
    for index, month in enumerate(months):
        version = f" {versions[index]}" if versions[index] else ""
        columns.append(
            FiscalYearColumn(
                f"{month_heading(month, lang)} ({month}){version}",
                "percent",
                _month_column(index, lambda m: m["availability_display"]),
                missed=lambda row, i=index: row["months"][i]["met"] is False,  # type: ignore[misc]
            )
        )
    for index, month in enumerate(months):
        columns.append(
            FiscalYearColumn(
                f"{month} {label('availability_exact', lang)}",
                "exact",
                _month_column(index, lambda m: m["availability"]),
            )
        )
    for index, month in enumerate(months):
        columns.append(
            FiscalYearColumn(
                f"{month} {label('insufficient_data', lang)}",
                "flag",
                _month_column(index, lambda m: yes_no_flag(m.get("insufficient_data", False))),
                missed=lambda row, i=index: bool(row["months"][i].get("insufficient_data")),  # type: ignore[misc]
            )
        )
    return columns
