"""HTML reports: one self-contained page (inline CSS, inline SVG), printable on A4.

The page is also the PDF's source (``pdf_format``), so what is printed is what is shown.
Everything the templates print is prepared here as text, in the chosen language; the
templates only lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app.reports import charts
from app.reports.document import (
    Exclusion,
    Figures,
    FiscalYearReportDocument,
    MonthlyReportDocument,
)
from app.reports.formats import format_duration, format_percent, format_seconds, percent_decimals
from app.reports.labels import (
    Lang,
    assessed_text,
    fiscal_year_title,
    format_instant,
    kind_text,
    label,
    met_text,
    month_heading,
    name_text,
    period_heading,
    policy_text,
    recovery_text,
    yes_no,
)
from app.reports.rows import (
    FigureRow,
    figure_rows,
    fiscal_year_month_versions,
    group_name,
    system_groups,
)

TEMPLATES = Path(__file__).parent / "templates"

ChartKind = Literal["screen", "print", "drawing"]


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True, slots=True)
class Stat:
    label: str
    value: str
    # Exact seconds beside a human duration, so nothing is only approximate.
    detail: str = ""
    css_class: str = ""


@dataclass(frozen=True, slots=True)
class IncidentView:
    start: str
    end: str
    duration: str
    downtime: str
    recovery_target: str
    recovery: str
    recovery_met: bool | None


@dataclass(frozen=True, slots=True)
class ExclusionView:
    id: int
    scope: str
    kind: str
    start: str
    end: str
    duration: str
    reason: str
    created_by: str
    created_at: str
    retroactive: str


@dataclass
class FigureCard:
    level: str
    anchor: str
    scope: str
    name: str
    target: str
    availability: str
    met: bool | None
    result: str
    insufficient_data: bool
    stats: list[Stat]
    incidents: list[IncidentView]
    exclusion_ids: list[int]
    strip_svg: Markup | None = None
    daily_svg: Markup | None = None
    # The same charts as geometry, for the PDF writer (``charts="drawing"``).
    strip_drawing: charts.StripDrawing | None = None
    daily_drawing: charts.DailyDrawing | None = None
    # On a system's card, its only service when that service's card would repeat it.
    sole_service: str = ""


@dataclass
class SystemSection:
    card: FigureCard | None
    name: str
    services: list[FigureCard] = field(default_factory=list)


def _duration_stat(key: str, seconds: float | int | None, lang: Lang, css_class: str = "") -> Stat:
    """A duration as people read it, with the exact seconds beside it."""
    return Stat(
        label(key, lang),
        format_duration(seconds, lang),
        format_seconds(seconds, lang),
        css_class=css_class,
    )


def _availability_text(display: str | None, lang: Lang) -> str:
    return display if display is not None else label("not_applicable", lang)


def _applies(window: Exclusion, row: FigureRow) -> bool:
    """A system window applies to the system and its services; a service window to the
    service (and is listed under its system too, where it removes that service's share)."""
    return window["scope"] in (row.system, row.scope) or (
        row.level == "system" and window["scope"].startswith(row.system + "/")
    )


def _stats(figures: Figures, lang: Lang) -> list[Stat]:
    """A card's figures as labelled values, in the order every report lists them."""
    decimals = percent_decimals(figures["availability_display"])
    coverage = format_percent(figures["coverage"], decimals, none=label("not_applicable", lang))
    remaining = figures["error_budget_remaining_seconds"]
    stats = [
        Stat(label("target", lang), figures["target_display"]),
        Stat(
            label("availability", lang),
            _availability_text(figures["availability_display"], lang),
            css_class="missed" if figures["met"] is False else "",
        ),
        Stat(label("result", lang), met_text(figures["met"], lang)),
        _duration_stat("scheduled", figures["scheduled_seconds"], lang),
        _duration_stat("excluded_planned", figures["excluded_seconds"]["planned"], lang),
        _duration_stat("excluded_disaster", figures["excluded_seconds"]["disaster"], lang),
        _duration_stat("downtime", figures["downtime_seconds"], lang),
        _duration_stat("unknown", figures["unknown_seconds"], lang),
        Stat(
            label("coverage", lang),
            coverage,
            css_class="insufficient" if figures["insufficient_data"] else "",
        ),
        _duration_stat("error_budget", figures["error_budget_seconds"], lang),
        _duration_stat(
            "error_budget_remaining",
            remaining,
            lang,
            css_class="missed" if remaining is not None and remaining < 0 else "",
        ),
    ]
    if figures["recovery_target_seconds"] is not None:
        stats.append(_duration_stat("recovery_target", figures["recovery_target_seconds"], lang))
    return stats


def _incident_views(figures: Figures, timezone: ZoneInfo, lang: Lang) -> list[IncidentView]:
    return [
        IncidentView(
            start=format_instant(incident["start"], timezone, lang),
            end=format_instant(incident["end"], timezone, lang),
            duration=format_duration(incident["duration_seconds"], lang),
            downtime=format_duration(incident["downtime_seconds"], lang),
            recovery_target=format_duration(incident["recovery_target_seconds"], lang)
            if incident["recovery_target_seconds"] is not None
            else label("not_applicable", lang),
            recovery=recovery_text(incident["recovery_met"], lang),
            recovery_met=incident["recovery_met"],
        )
        for incident in figures["incidents"]
    ]


def _card(
    row: FigureRow,
    document: MonthlyReportDocument,
    timezone: ZoneInfo,
    lang: Lang,
    chart_kind: ChartKind,
) -> FigureCard:
    figures = row.figures
    stats = _stats(figures, lang)
    incidents = _incident_views(figures, timezone, lang)
    anchor = row.scope.replace("/", "--")
    card = FigureCard(
        level=row.level,
        anchor=anchor,
        scope=row.scope,
        name=row.display_name(lang),
        target=figures["target_display"],
        availability=_availability_text(figures["availability_display"], lang),
        met=figures["met"],
        result=met_text(figures["met"], lang),
        insufficient_data=figures["insufficient_data"],
        stats=stats,
        incidents=incidents,
        exclusion_ids=[w["id"] for w in document.get("exclusions", []) if _applies(w, row)],
    )
    period = document["period"]
    if chart_kind == "drawing":
        if figures.get("strip"):
            card.strip_drawing = charts.strip_drawing(
                figures["strip"], period["start"], period["end"], timezone_name=period["timezone"]
            )
        if figures.get("daily"):
            card.daily_drawing = charts.daily_drawing(
                figures["daily"], figures["target"], figures["target_display"], lang
            )
        return card
    for_print = chart_kind == "print"
    if figures.get("strip"):
        card.strip_svg = charts.month_strip(
            figures["strip"],
            period["start"],
            period["end"],
            period["timezone"],
            f"strip-{anchor}",
            lang,
            for_print=for_print,
        )
    if figures.get("daily"):
        card.daily_svg = charts.daily_bars(
            figures["daily"],
            figures["target"],
            figures["target_display"],
            f"daily-{anchor}",
            lang,
            for_print=for_print,
        )
    return card


def _exclusion_views(
    document: MonthlyReportDocument, timezone: ZoneInfo, lang: Lang
) -> list[ExclusionView]:
    from app.reports.labels import parse_instant

    return [
        ExclusionView(
            id=window["id"],
            scope=window["scope"],
            kind=kind_text(window["kind"], lang),
            start=format_instant(window["start"], timezone, lang),
            end=format_instant(window["end"], timezone, lang),
            duration=format_duration(
                int(
                    (parse_instant(window["end"]) - parse_instant(window["start"])).total_seconds()
                ),
                lang,
            ),
            reason=window["reason"],
            created_by=window["created_by"],
            created_at=format_instant(window["created_at"], timezone, lang),
            retroactive=yes_no(window["retroactive"], lang),
        )
        for window in document.get("exclusions", [])
    ]


def _provenance(document: dict[str, object], lang: Lang) -> list[Stat]:
    stats = [
        Stat(label("generated_at", lang), str(document["generated_at"])),
        Stat(label("data_cutoff", lang), str(document["data_cutoff"])),
        Stat(label("catalog_sha256", lang), str(document["catalog_sha256"])),
    ]
    if document.get("catalog_source"):
        stats.append(Stat(label("catalog_source", lang), str(document["catalog_source"])))
    return stats


_SAME_FIELDS = (
    "target",
    "availability",
    "met",
    "scheduled_seconds",
    "excluded_seconds",
    "downtime_seconds",
    "unknown_seconds",
    "error_budget_seconds",
    "error_budget_remaining_seconds",
    "insufficient_data",
    "recovery_target_seconds",
    "incidents",
)


def _same_figures(system: Figures, service: Figures) -> bool:
    """Whether a system's only service has the system's figures, so that printing both
    would repeat one page (it differs when the service has its own target, say)."""
    return all(system.get(key) == service.get(key) for key in _SAME_FIELDS)


@dataclass
class MonthlyView:
    """Everything the monthly report prints, as text in one language: what the HTML
    template lays out and what the PDF writer draws (``pdf_writer``), so that both print
    the same words and figures."""

    lang: Lang
    title: str
    period_text: str
    policy: str
    summary_sentence: str
    system_cards: list[FigureCard]
    sections: list[SystemSection]
    exclusions: list[ExclusionView]
    provenance: list[Stat]
    footer_text: str
    # The instant the report describes (its generated_at), which a PDF carries as its date.
    generated_at: str


def monthly_view(
    document: MonthlyReportDocument, lang: Lang, *, charts_as: ChartKind = "screen"
) -> MonthlyView:
    """The monthly report's content. ``charts_as`` says how its charts come: SVG with
    tooltips for a browser, lean SVG for WeasyPrint (``print``), or geometry for the PDF
    writer (``drawing``)."""
    period = document["period"]
    timezone = ZoneInfo(period["timezone"])
    rows = figure_rows(document)
    cards = {row.scope: _card(row, document, timezone, lang, charts_as) for row in rows}
    sections = []
    for group in system_groups(document):
        section = SystemSection(
            card=cards.get(group.system_id) if group.system is not None else None,
            name=group_name(group, lang),
            services=[cards[f"{s['system']}/{s['service']}"] for s in group.services],
        )
        if section.card is not None and group.system is not None and len(group.services) == 1:
            sole = group.services[0]
            if _same_figures(group.system, sole):
                # One service with the system's own figures: one card, naming the service.
                section.card.sole_service = (
                    f"{name_text(sole['name'], sole.get('removed_at'), lang)} "
                    f"({sole['system']}/{sole['service']})"
                )
                section.services = []
        sections.append(section)
    system_cards = [cards[row.scope] for row in rows if row.level == "system"]
    met_count = sum(1 for card in system_cards if card.met is True)
    return MonthlyView(
        lang=lang,
        title=f"{label('report_title_monthly', lang)} {period_heading(period['label'], lang)}",
        period_text=(
            f"{format_instant(period['start'], timezone, lang)} – "
            f"{format_instant(period['end'], timezone, lang)} ({period['timezone']})"
        ),
        policy=policy_text(document["unknown_policy"], lang),
        summary_sentence=label("summary_met_count", lang).format(
            met=met_count, total=len(system_cards)
        ),
        system_cards=system_cards,
        sections=sections,
        exclusions=_exclusion_views(document, timezone, lang),
        provenance=_provenance(dict(document), lang),
        footer_text=(
            f"Kadou · {period['label']} · {label('catalog_sha256', lang)} "
            f"{document['catalog_sha256'][:12]}… · {label('generated_at', lang)} "
            f"{document['generated_at']}"
        ),
        generated_at=str(document["generated_at"]),
    )


def render_monthly_html(
    document: MonthlyReportDocument, lang: Lang, *, for_print: bool = False
) -> str:
    """The monthly page. ``for_print`` is WeasyPrint's source (the PDF when the PDF writer
    is not installed): the same content, with charts drawn in few elements and no tooltips,
    since WeasyPrint's time grows with the number of SVG elements (see ``charts``) and a
    PDF has no hover anyway."""
    view = monthly_view(document, lang, charts_as="print" if for_print else "screen")
    template = environment().get_template("monthly.html.j2")
    return template.render(
        lang=lang,
        t=lambda key: label(key, lang),
        title=view.title,
        period_text=view.period_text,
        policy=view.policy,
        summary_sentence=view.summary_sentence,
        system_cards=view.system_cards,
        sections=view.sections,
        exclusions=view.exclusions,
        provenance=view.provenance,
        footer_text=view.footer_text,
        legend=charts.legend("legend", lang),
    )


@dataclass(frozen=True, slots=True)
class MonthCell:
    label: str
    text: str
    met: bool | None
    insufficient_data: bool
    # "目標 99.9%" when the month's own target differs from the year's (§8), else "".
    target: str = ""


@dataclass(frozen=True, slots=True)
class FiscalYearRowView:
    is_system: bool
    scope: str
    name: str
    target: str
    availability: str
    met: bool | None
    result: str
    coverage: str
    insufficient_data: bool
    months: list[MonthCell]


def render_fiscal_year_html(document: FiscalYearReportDocument, lang: Lang) -> str:
    period = document["period"]
    fiscal_year = period["fiscal_year"]
    month_labels = [m["label"] for m in document["rows"][0]["months"]] if document["rows"] else []
    # Calendar-year groups over the month columns: April–December, then January–March.
    year_groups: list[tuple[str, int]] = []
    for month in month_labels:
        year = month[:4]
        year_text = f"{year}年（令和{int(year) - 2018}年）" if lang == "ja" else year
        if year_groups and year_groups[-1][0] == year_text:
            year_groups[-1] = (year_text, year_groups[-1][1] + 1)
        else:
            year_groups.append((year_text, 1))
    rows = [
        FiscalYearRowView(
            is_system=row["service"] is None,
            scope=row["system"] if row["service"] is None else f"{row['system']}/{row['service']}",
            name=name_text(row["name"], row.get("removed_at"), lang),
            target=row["target_display"],
            availability=_availability_text(row["availability_display"], lang),
            met=row["met"],
            result=assessed_text(row["met"], row.get("insufficient_data"), lang),
            coverage=format_percent(
                row.get("coverage"),
                percent_decimals(row["availability_display"]),
                none=label("not_applicable", lang),
            ),
            insufficient_data=bool(row.get("insufficient_data")),
            months=[
                MonthCell(
                    m["label"],
                    _availability_text(m["availability_display"], lang),
                    m["met"],
                    bool(m.get("insufficient_data")),
                    label("month_target", lang).format(target=m["target_display"])
                    if m.get("target_display", row["target_display"]) != row["target_display"]
                    else "",
                )
                for m in row["months"]
            ],
        )
        for row in document["rows"]
    ]
    year_title = fiscal_year_title(fiscal_year, lang)
    timezone = ZoneInfo(period["timezone"])
    template = environment().get_template("fiscal_year.html.j2")
    return template.render(
        lang=lang,
        t=lambda key: label(key, lang),
        title=f"{year_title} {label('report_title_fiscal_year', lang)}",
        year_title=year_title,
        period=period,
        period_text=(
            f"{format_instant(period['start'], timezone, lang)} – "
            f"{format_instant(period['end'], timezone, lang)} ({period['timezone']})"
        ),
        policy=policy_text(document["unknown_policy"], lang)
        if document.get("unknown_policy")
        else "",
        month_headings=[month_heading(month, lang) for month in month_labels],
        month_versions=fiscal_year_month_versions(document, lang),
        year_groups=year_groups,
        rows=rows,
        provenance=_provenance(dict(document), lang),
        footer_text=(
            f"Kadou · {period['label']} · {label('catalog_sha256', lang)} "
            f"{document['catalog_sha256'][:12]}… · {label('generated_at', lang)} "
            f"{document['generated_at']}"
        ),
    )
