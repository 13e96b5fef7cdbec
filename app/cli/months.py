"""``kadou month``: close a month, amend closed months, list them (SLA-SEMANTICS §9)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli._common import cli_actor, fail, guarded, require_schema, runtime

if TYPE_CHECKING:
    from app.runtime import Runtime

month_app = typer.Typer(help="Closed months and their amendments.", no_args_is_help=True)


def _describe(row: Any) -> str:
    what = "closed" if row.version == 1 else "amended"
    moved = f", {len(row.diff)} figure(s) moved" if row.version > 1 else ""
    because = f" ({', '.join(row.changed_inputs)} changed)" if row.version > 1 else ""
    return f"{row.month}: {what}, version {row.version}{because}{moved}"


@month_app.command("close")
def month_close(
    month: Annotated[str, typer.Argument(help="YYYY-MM, e.g. 2026-10")],
) -> None:
    """Close a month (freeze its report); on a closed month, amend it if its inputs changed."""
    from app.months import close_month, parse_month_label

    rt = runtime()
    require_schema(rt)
    period = guarded(lambda: parse_month_label(month, rt.timezone))
    row = guarded(lambda: close_month(rt.sessions, rt.catalog, period, actor=cli_actor().name))
    if row is None:
        typer.echo(f"{period.label}: unchanged, nothing to do")
        return
    typer.echo(_describe(row))
    for change in row.diff:
        typer.echo(
            f"  {change['indicator']} {change['figure']}: {change['before']} → {change['after']}"
        )
    _refresh_bundles(rt, [row.month])


@month_app.command("amend")
def month_amend(
    month: Annotated[
        str | None, typer.Argument(help="YYYY-MM; default: every closed month")
    ] = None,
) -> None:
    """Check closed months for changed inputs and write the next version of each that moved."""
    from app.months import amend_closed_months, close_month, closed_document, parse_month_label

    rt = runtime()
    require_schema(rt)
    actor = cli_actor().name
    if month is not None:
        period = guarded(lambda: parse_month_label(month, rt.timezone))
        with rt.sessions() as session:
            if closed_document(session, period.label) is None:
                fail(f"month {period.label} is not closed; close it with `kadou month close`")
        row = guarded(lambda: close_month(rt.sessions, rt.catalog, period, actor=actor))
        rows = [] if row is None else [row]
    else:
        rows = guarded(
            lambda: amend_closed_months(rt.sessions, rt.catalog, rt.timezone, actor=actor)
        )
    if not rows:
        typer.echo("no closed month changed")
    for row in rows:
        typer.echo(_describe(row))
    _refresh_bundles(rt, [row.month for row in rows])


def _refresh_bundles(rt: Runtime, months: list[str]) -> None:
    """A month whose bundle a prune wrote gets the amended version's bundle beside it."""
    from app.evidence_files import refresh_amended_bundles

    if not months:
        return
    for path in guarded(
        lambda: refresh_amended_bundles(
            rt.sessions, rt.catalog, rt.timezone, rt.settings.report_dir, months
        )
    ):
        typer.echo(f"wrote {path}")


@month_app.command("list")
def month_list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Each closed month with its latest version (months not listed are open)."""
    from app.months import month_list

    rt = runtime()
    require_schema(rt)
    with rt.sessions() as session:
        months = guarded(lambda: month_list(session, rt.timezone))
    if as_json:
        typer.echo(json.dumps(months, ensure_ascii=False, indent=2))
        return
    if not months:
        typer.echo("no closed month yet")
        return
    typer.echo(f"{'month':<8} {'state':<8} {'version':>7}  {'closed at':<26} reasons")
    for item in months:
        state = "amended" if item["amended"] else "closed"
        reasons = ", ".join(
            f"#{reason['audit_entry_id']} {reason['action']} {reason['entity']} {reason['entity_id'] or ''}".rstrip()
            for reason in item["reasons"]
        ) or ", ".join(item["changed_inputs"])
        typer.echo(
            f"{item['month']:<8} {state:<8} {item['version']:>7}  {item['closed_at']:<26} {reasons}"
        )
