"""``kadou report``: availability for a month or fiscal year, as a table or a report file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from app.cli._common import fail, guarded, require_schema, runtime
from app.evaluation import evaluate_period, report_document
from app.sla import periods


def resolve_period(month: str | None, fiscal_year: int | None, tz: str) -> periods.Period:
    if month and fiscal_year is not None:
        fail("give --month or --fiscal-year, not both")
    if fiscal_year is not None:
        return guarded(lambda: periods.fiscal_year(fiscal_year, tz))
    if month:
        return guarded(lambda: periods.parse_month(month, tz))
    now = datetime.now(ZoneInfo(tz))
    return periods.month(now.year, now.month, tz)


def report(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default: this month to date")] = None,
    fiscal_year: Annotated[
        int | None, typer.Option(help="Fiscal year (April-March), e.g. 2026")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, json, csv, xlsx, html or pdf")
    ] = "table",
    lang: Annotated[str, typer.Option(help="ja or en (csv, xlsx, html, pdf)")] = "ja",
    system: Annotated[str | None, typer.Option(help="Only this system (table, json)")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service (with --system)")] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout")] = None,
) -> None:
    """Availability of every service and system for a month or fiscal year."""
    rt = runtime()
    require_schema(rt)
    period = resolve_period(month, fiscal_year, rt.timezone)
    if service and not system:
        fail("--service needs --system")
    if system:
        guarded(lambda: rt.catalog.system(system))
        if service:
            guarded(lambda: rt.catalog.service(system, service))
    if output in ("table", "json"):
        with rt.sessions() as session:
            result = evaluate_period(
                session, rt.catalog, period, system_ids=[system] if system else None
            )
        document = report_document(rt.catalog, result, system_id=system, service_id=service)
        text = (
            json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            if output == "json"
            else render_table(document)
        )
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {out}")
        return
    from app.reports.render import FORMATS
    from app.reports.service import build_report

    if output not in FORMATS:
        fail(f"--format {output!r}: choose table, {', '.join(FORMATS)}")
    if system or service:
        fail("--system and --service apply to table and json; reports cover every system")
    if lang not in ("ja", "en"):
        fail(f"--lang {lang!r}: choose ja or en")
    with rt.sessions() as session:
        rendered = guarded(
            lambda: build_report(
                session,
                rt.catalog,
                kind="fiscal_year" if period.kind == "fiscal_year" else "monthly",
                label=str(fiscal_year) if period.kind == "fiscal_year" else period.label,
                fmt=output,
                lang=lang,
                timezone=rt.timezone,
            )
        )
    target = out if out is not None else Path(rendered.file_name)
    target.write_bytes(rendered.body)
    typer.echo(f"wrote {target}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = float(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{int(hours)}h{int(minutes):02d}m{secs:04.1f}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs:04.1f}s"
    return f"{sign}{secs:.1f}s"


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
        coverage = "-" if item["coverage"] is None else f"{item['coverage'] * 100:.2f}%"
        flag = "  insufficient data" if item["insufficient_data"] else ""
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
