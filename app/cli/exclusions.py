"""``kadou exclusions``: planned and disaster exclusion windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli._common import cli_actor, fail, guarded, parse_time, require_schema, runtime
from app.store.db import transaction

exclusions_app = typer.Typer(help="Planned and disaster exclusion windows.", no_args_is_help=True)


@exclusions_app.command("add")
def exclusions_add(
    scope: Annotated[str, typer.Option(help="system or system/service, e.g. info-network/main")],
    kind: Annotated[str, typer.Option(help="planned (計画停止) or disaster (災害による停止)")],
    start: Annotated[str, typer.Option(help="ISO 8601; without offset: the reporting time zone")],
    end: Annotated[str, typer.Option(help="ISO 8601; without offset: the reporting time zone")],
    reason: Annotated[str, typer.Option(help="Why the service stops; printed in reports")],
    retroactive: Annotated[
        bool, typer.Option(help="Register a planned window that already started")
    ] = False,
) -> None:
    """Register an exclusion window."""
    from app.store.exclusions import ExclusionRequest, add_exclusion

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    starts_at = parse_time(start, "--start", zone)
    if kind == "planned" and not retroactive and starts_at < datetime.now(UTC):
        # The store refuses it too; here the refusal can name the option that allows it.
        fail(
            f"--start {start}: a planned window must be registered before it starts, and this "
            "one starts in the past; if it was planned, register it with --retroactive "
            "(an admin's decision, kept in the audit log with the reason)"
        )
    request = ExclusionRequest(
        scope=scope,
        kind=kind,
        starts_at=starts_at,
        ends_at=parse_time(end, "--end", zone),
        reason=reason,
        retroactive=retroactive,
    )

    def act() -> str:
        with transaction(rt.sessions) as session:
            row = add_exclusion(session, rt.catalog, request, cli_actor())
            return f"exclusion {row.id} added: {row.kind} {row.scope} {row.starts_at.astimezone(zone).isoformat()} - {row.ends_at.astimezone(zone).isoformat()}"

    typer.echo(guarded(act))


@exclusions_app.command("list")
def exclusions_list(
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List active exclusion windows."""
    from app.evaluation import exclusion_json
    from app.store.exclusions import list_exclusions

    if output not in ("table", "json"):
        fail(f"--format {output!r}: choose table or json")
    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    with rt.sessions() as session:
        rows = [exclusion_json(row, zone) for row in list_exclusions(session)]
    if output == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no exclusion windows")
    for row in rows:
        flag = " (retroactive)" if row["retroactive"] else ""
        typer.echo(
            f"{row['id']:>4}  {row['kind']:<8}  {row['scope']:<28}  {row['start']} - {row['end']}  "
            f"by {row['created_by']}{flag}: {row['reason']}"
        )


@exclusions_app.command("remove")
def exclusions_remove(
    exclusion_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why the window is removed (audit log)")],
) -> None:
    """Remove an exclusion window (kept in the audit log)."""
    from app.store.exclusions import find_exclusion, remove_exclusion

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)

    def act() -> str:
        with transaction(rt.sessions) as session:
            found = find_exclusion(session, exclusion_id)
            if found is None:
                fail(f"no exclusion window with id {exclusion_id}; see `kadou exclusions list`")
            if found.removed_at is not None:
                removed_at = found.removed_at.astimezone(zone).isoformat(timespec="seconds")
                fail(
                    f"exclusion window {exclusion_id} was already removed on {removed_at}, by "
                    f"{found.removed_by} ({found.removal_reason}); register a new window instead"
                )
            row = remove_exclusion(session, exclusion_id, actor=cli_actor(), reason=reason)
            return f"exclusion {row.id} removed"

    typer.echo(guarded(act))
