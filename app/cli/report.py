"""``kadou report``: availability for a month, a fiscal year or any window, as a table or a
report file.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from app.cli._common import check_output_path, fail, guarded, require_schema, runtime, write_output
from app.errors import KadouError
from app.evaluation import evaluate_period, report_document
from app.reports.formats import format_duration, format_percent, percent_decimals
from app.reports.labels import removed_text
from app.sla import periods

# Years a report can be asked for: "26" is a typo for 2026, not the fiscal year 26 AD.
FIRST_YEAR, LAST_YEAR = 2000, 2100
LANGS = ("ja", "en")


def resolve_period(
    tz: str,
    *,
    month: str | None = None,
    fiscal_year: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> periods.Period:
    """The period the options name, as the API reads the same parameters; this month by
    default. An error names the option, the way it is typed on the command line."""
    from app.api.params import resolve_period as resolve_api_period

    try:
        period = resolve_api_period(
            tz,
            datetime.now(ZoneInfo(tz)),
            month=month,
            fiscal_year=fiscal_year,
            start=start,
            end=end,
            default_current_month=True,
        )
    except KadouError as error:
        option = f"--{(error.field or 'month').replace('_', '-')}"
        fail(f"{option}: {error.message}")
    year = period.start().year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        given = {"month": month, "fiscal_year": fiscal_year}.get(period.kind, start)
        option = {"month": "--month", "fiscal_year": "--fiscal-year"}.get(period.kind, "--start")
        form = {"month": "YYYY-MM, e.g. 2026-10", "fiscal_year": "YYYY, e.g. 2026"}.get(
            period.kind, "an ISO 8601 time, e.g. 2026-10-04T01:00"
        )
        fail(
            f"{option} {given}: the year must be between {FIRST_YEAR} and {LAST_YEAR}; "
            f"write it as {form}"
        )
    return period


def report(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default: this month to date")] = None,
    fiscal_year: Annotated[
        str | None, typer.Option(help="Fiscal year (April-March), e.g. 2026 or FY2026")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Start of any window (with --end), ISO 8601; table and json only"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="End of the window, exclusive; without offset: the reporting time zone"),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, json, csv, xlsx, html or pdf")
    ] = "table",
    lang: Annotated[
        str | None, typer.Option(help="ja (default) or en, for csv, xlsx, html and pdf")
    ] = None,
    system: Annotated[str | None, typer.Option(help="Only this system (table, json)")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service (with --system)")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write to this file (or into this folder) instead of stdout"),
    ] = None,
) -> None:
    """Availability of every service and system for a month, a fiscal year or any window."""
    from app.api.params import check_scope
    from app.reports.render import FORMATS

    if output not in ("table", "json", *FORMATS):
        fail(f"--format {output!r}: choose table, json, {', '.join(FORMATS)}")
    if lang is not None and lang not in LANGS:
        fail(f"--lang {lang!r}: choose ja or en")
    if out is not None and not out.is_dir():
        check_output_path(out)
    rt = runtime()
    require_schema(rt)
    period = resolve_period(rt.timezone, month=month, fiscal_year=fiscal_year, start=start, end=end)
    if service and not system:
        fail("--service needs --system (services are named within a system)")
    try:
        check_scope(rt.catalog, system, service)
    except KadouError as error:
        fail(f"--{error.field}: {error.message}")
    if output in ("table", "json"):
        if lang is not None:
            fail(f"--lang applies to csv, xlsx, html and pdf; the {output} output is in English")
        from app.months import closed_document, year_with_closed_months

        with rt.sessions() as session:
            # A closed month prints its latest version as frozen (SLA-SEMANTICS §9).
            closed = (
                closed_document(session, period.label)
                if period.kind == "month" and system is None
                else None
            )
            result = (
                None
                if closed is not None
                else evaluate_period(
                    session, rt.catalog, period, system_ids=[system] if system else None
                )
            )
            document = (
                # A fiscal year's figures are made of its closed months' versions (§9).
                year_with_closed_months(
                    session,
                    result,
                    report_document(rt.catalog, result, system_id=system, service_id=service),
                )
                if result is not None
                else closed or {}
            )
        text = (
            json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            if output == "json"
            else render_table(document)
        )
        if out is None:
            typer.echo(text, nl=False)
            return
        if out.is_dir():
            fail(f"--out {out}: is a folder; name the file to write")
        write_output(out, text.encode("utf-8"))
        typer.echo(f"wrote {out}")
        return
    from app.reports.service import build_report

    if system or service:
        fail("--system and --service apply to table and json; reports cover every system")
    if period.kind == "range":
        fail("--start/--end apply to table and json; report files cover a month or a fiscal year")
    with rt.sessions() as session:
        rendered = guarded(
            lambda: build_report(
                session,
                rt.catalog,
                kind="fiscal_year" if period.kind == "fiscal_year" else "monthly",
                label=str(period.start().year) if period.kind == "fiscal_year" else period.label,
                fmt=output,
                lang=lang or "ja",
                timezone=rt.timezone,
            )
        )
    if out is None:
        target = Path(rendered.file_name)
    elif out.is_dir():
        target = out / rendered.file_name
    else:
        target = out
    write_output(target, rendered.body)
    typer.echo(f"wrote {target}")


def _duration(seconds: float | None) -> str:
    return format_duration(seconds, "en", compact=True)


def render_table(document: dict[str, Any]) -> str:
    period = document["period"]
    lines = [
        f"Kadou availability — {period['label']} ({period['start']} to {period['end']}, {period['timezone']})",
        f"unknown time: {document['unknown_policy']}; data up to {document['data_cutoff']}",
        "",
        f"{'system/service':<28} {'target':>7} {'availability':>12} {'met':>4} {'scheduled':>12} "
        f"{'downtime':>11} {'unknown':>11} {'coverage':>9} {'budget left':>12} {'inc':>4}",
    ]

    def row(name: str, item: dict[str, Any]) -> str:
        met = {True: "yes", False: "NO", None: "-"}[item["met"]]
        # Coverage with the availability's precision, truncated like it: 98.9957 % is
        # "98.99%", never a "99.00%" beside "insufficient data".
        # Without data the availability is "—" and says nothing of the precision: the
        # target's, plus one decimal, is the one it would have had (§5).
        shown = item["availability_display"]
        decimals = (
            percent_decimals(shown)
            if any(c.isdigit() for c in shown or "")
            else percent_decimals(item["target_display"]) + 1
        )
        coverage = format_percent(item["coverage"], decimals, none="-")
        flag = "  insufficient data" if item["insufficient_data"] else ""
        if item.get("removed_at"):
            # In the period's catalog history but no longer in the catalog (§8).
            flag += f"  {removed_text(item['removed_at'], 'en')}"
        return (
            f"{name:<28} {item['target_display']:>7} {item['availability_display']:>12} {met:>4} "
            f"{_duration(item['scheduled_seconds']):>12} {_duration(item['downtime_seconds']):>11} "
            f"{_duration(item['unknown_seconds']):>11} {coverage:>9} "
            f"{_duration(item['error_budget_remaining_seconds']):>12} {len(item['incidents']):>4}{flag}"
        )

    for item in document["services"]:
        lines.append(row(f"{item['system']}/{item['service']}", item))
    if document["systems"]:
        lines.append("")
        for item in document["systems"]:
            lines.append(row(item["system"], item))
    incidents = [
        (item["system"] + ("/" + item["service"] if "service" in item else ""), incident)
        for item in document["services"] + document["systems"]
        for incident in item["incidents"]
    ]
    if incidents:
        lines += ["", "incidents:"]
        for name, incident in incidents:
            recovery = {True: "recovery met", False: "RECOVERY BREACHED", None: ""}[
                incident["recovery_met"]
            ]
            end = incident["end"] or "ongoing"
            lines.append(
                f"  {name:<28} {incident['start']} - {end}  lasted {_duration(incident['duration_seconds'])}, "
                f"counted {_duration(incident['downtime_seconds'])} {recovery}".rstrip()
            )
    if document["exclusions"]:
        lines += ["", "exclusion windows:"]
        for window in document["exclusions"]:
            lines.append(
                f"  #{window['id']} {window['kind']:<8} {window['scope']:<28} {window['start']} - {window['end']}: {window['reason']}"
            )
    return "\n".join(lines) + "\n"
