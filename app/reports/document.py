"""The report documents: plain JSON-shaped data that every renderer reads.

A document is what ``kadou report --format json`` prints (the contract), extended with the
exclusion windows, the month strip and the daily figures. The SLA engine fills it; the
renderers only lay it out. No renderer computes availability: every number and every
``*_display`` string comes from here, so a CSV, a workbook and a PDF of the same month
can never disagree with the API.

These are ``TypedDict``s rather than classes because the document crosses process
boundaries as JSON (the API, the scheduled export, ``--format json``) and must round-trip
unchanged; a ``dict`` loaded from that JSON is a valid document as it is.

Conventions:
- instants are ISO 8601 strings with an offset (``2026-10-01T00:00:00+09:00``);
- durations are seconds (``int``, or ``float`` where a ratio makes them fractional, as the
  error budget does);
- ratios (target, availability, coverage) are floats for machines, and ``*_display``
  strings, truncated by the engine (SLA-SEMANTICS §5), are what people are shown;
- ``availability`` is ``None`` when nothing was scheduled or observed (never 100 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

PeriodKind = Literal["month", "fiscal_year"]
ExclusionKind = Literal["planned", "disaster"]
StripState = Literal["up", "down", "unknown", "excluded", "outside_hours"]
UnknownPolicy = Literal["exclude", "up", "down"]

STRIP_STATES: tuple[StripState, ...] = ("up", "down", "unknown", "excluded", "outside_hours")


class LocalizedText(TypedDict):
    ja: str
    en: str


class Period(TypedDict):
    kind: PeriodKind
    # "2026-10" for a month, "FY2026" for a fiscal year.
    label: str
    start: str
    end: str
    # The reporting time zone the period was cut in; renderers show instants in it.
    timezone: str
    fiscal_year: NotRequired[int]


class ExcludedSeconds(TypedDict):
    planned: int
    disaster: int


class Incident(TypedDict):
    start: str
    # None while the incident is ongoing.
    end: str | None
    duration_seconds: int
    # The part of the incident inside the period's scheduled time (0 if wholly excluded).
    downtime_seconds: int
    recovery_target_seconds: int | None
    # None when there is no recovery target.
    recovery_met: bool | None


class StripRun(TypedDict):
    start: str
    end: str
    state: StripState


class DailyFigure(TypedDict):
    # A local date in the reporting time zone, "2026-10-01".
    date: str
    availability: float | None


class Figures(TypedDict):
    """The §5 numbers of one service or system over the period."""

    system: str
    name: LocalizedText
    target: float
    target_display: str
    scheduled_seconds: int
    excluded_seconds: ExcludedSeconds
    downtime_seconds: int
    unknown_seconds: int
    coverage: float | None
    availability: float | None
    availability_display: str | None
    met: bool | None
    error_budget_seconds: float
    error_budget_remaining_seconds: float
    insufficient_data: bool
    recovery_target_seconds: int | None
    incidents: list[Incident]
    strip: NotRequired[list[StripRun]]
    daily: NotRequired[list[DailyFigure]]
    # Only for a service or system the catalog no longer has at the period's end: the
    # instant it left (SLA-SEMANTICS §8); its figures cover the time it existed.
    removed_at: NotRequired[str]


class ServiceFigures(Figures):
    service: str
    system_name: LocalizedText


class SystemFigures(Figures):
    pass


class Exclusion(TypedDict):
    id: int
    # "info-network" (the whole system) or "info-network/main" (one service).
    scope: str
    kind: ExclusionKind
    start: str
    end: str
    reason: str
    # The token name that registered the window.
    created_by: str
    created_at: str
    retroactive: bool


class MonthlyReportDocument(TypedDict):
    period: Period
    unknown_policy: UnknownPolicy
    generated_at: str
    data_cutoff: str
    catalog_sha256: str
    catalog_source: NotRequired[str]
    services: list[ServiceFigures]
    systems: list[SystemFigures]
    exclusions: list[Exclusion]


class FiscalYearMonth(TypedDict):
    # "2026-04"
    label: str
    availability: float | None
    availability_display: str | None
    met: bool | None
    # Coverage below 99 % (SLA-SEMANTICS §5); None for a month not started yet.
    insufficient_data: NotRequired[bool | None]
    coverage: NotRequired[float | None]
    downtime_seconds: NotRequired[int | float | None]
    # What the year's figures are summed from (SLA-SEMANTICS §9).
    scheduled_seconds: NotRequired[int | float | None]
    unknown_seconds: NotRequired[int | float | None]
    excluded_seconds: NotRequired[ExcludedSeconds | None]
    # The month's own target (its month-end catalog's, or its closed version's, §8).
    target: NotRequired[float]
    target_display: NotRequired[str]
    # A closed month's row is its latest version (1, 2, …); None for an open month.
    version: NotRequired[int | None]
    closed_at: NotRequired[str | None]


class ClosedMonth(TypedDict):
    month: str
    version: int
    closed_at: str


class FiscalYearRow(TypedDict):
    system: str
    # None for a system row.
    service: str | None
    name: LocalizedText
    target: float
    target_display: str
    # Over the whole fiscal year (not an average of the monthly ratios).
    availability: float | None
    availability_display: str | None
    met: bool | None
    months: list[FiscalYearMonth]
    insufficient_data: NotRequired[bool]
    coverage: NotRequired[float | None]
    # Only for a system or service removed during the year (SLA-SEMANTICS §8).
    removed_at: NotRequired[str]


class FiscalYearReportDocument(TypedDict):
    period: Period
    rows: list[FiscalYearRow]
    generated_at: str
    data_cutoff: str
    catalog_sha256: str
    catalog_source: NotRequired[str]
    unknown_policy: NotRequired[UnknownPolicy]
    # The closed months of the year and the version each row shows.
    closed_months: NotRequired[list[ClosedMonth]]


class DocumentError(ValueError):
    """The document lacks a field a renderer needs; the message names it."""


_MONTHLY_KEYS = ("period", "generated_at", "data_cutoff", "catalog_sha256", "services", "systems")
_FISCAL_YEAR_KEYS = ("period", "generated_at", "data_cutoff", "catalog_sha256", "rows")
_PERIOD_KEYS = ("kind", "label", "start", "end", "timezone")


def _require_keys(mapping: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise DocumentError(f"report document: {where} lacks {', '.join(missing)}")


def check_monthly(document: Mapping[str, Any]) -> MonthlyReportDocument:
    """Check the top-level shape of a monthly document and return it typed.

    Only the shape a renderer relies on is checked, with a message naming the missing
    field; the numbers are the engine's responsibility.
    """
    # The kind first: a fiscal-year document passed here should say so, not list fields.
    _require_keys(document, ("period",), "the document")
    _require_keys(document["period"], _PERIOD_KEYS, "period")
    if document["period"]["kind"] != "month":
        raise DocumentError(
            f"report document: period.kind is {document['period']['kind']!r}; "
            "a monthly report needs 'month' (use render_fiscal_year for a fiscal year)"
        )
    _require_keys(document, _MONTHLY_KEYS, "the document")
    return document  # type: ignore[return-value]


def check_fiscal_year(document: Mapping[str, Any]) -> FiscalYearReportDocument:
    _require_keys(document, ("period",), "the document")
    _require_keys(document["period"], _PERIOD_KEYS, "period")
    if document["period"]["kind"] != "fiscal_year":
        raise DocumentError(
            f"report document: period.kind is {document['period']['kind']!r}; "
            "a fiscal-year report needs 'fiscal_year' (use render_monthly for a month)"
        )
    _require_keys(document["period"], ("fiscal_year",), "period")
    _require_keys(document, _FISCAL_YEAR_KEYS, "the document")
    return document  # type: ignore[return-value]


def reiwa_year(gregorian_year: int) -> int:
    """令和 era year: 2019 is 令和元年 (1), so Gregorian − 2018 (SLA-SEMANTICS §2)."""
    if gregorian_year < 2019:
        raise ValueError(f"{gregorian_year} is before the Reiwa era (2019)")
    return gregorian_year - 2018
