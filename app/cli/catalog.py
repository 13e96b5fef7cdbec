"""``kadou catalog``: validate the catalog, and the history of the catalogs Kadou ran with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from app.catalog import catalog_summary, load_catalog
from app.cli._common import fail, guarded, parse_time, require_schema, runtime
from app.settings import get_settings

catalog_app = typer.Typer(help="Validate and show the catalog.", no_args_is_help=True)


@catalog_app.command("check")
def catalog_check(
    file: Annotated[
        Path | None, typer.Argument(help="Catalog YAML; default: KADOU_CATALOG or the built-in one")
    ] = None,
) -> None:
    """Validate a catalog and print a summary."""
    path = file if file is not None else get_settings().catalog
    catalog = guarded(lambda: load_catalog(path))
    typer.echo(catalog_summary(catalog))


def _at(text: str, zone: ZoneInfo) -> datetime:
    return parse_time(text, "--at", zone)


@catalog_app.command("history")
def catalog_history() -> None:
    """List every catalog version Kadou has run with: when it took effect, who loaded it."""
    from app.store.history import catalog_versions

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    with rt.sessions() as session:
        rows = guarded(lambda: catalog_versions(session))
    if not rows:
        typer.echo("no catalog version recorded yet")
        return
    typer.echo(f"{'effective from':<26} {'sha256':<12} {'loaded by':<24} source")
    for row in rows:
        typer.echo(
            f"{row.effective_from.astimezone(zone).isoformat(timespec='seconds'):<26} "
            f"{row.sha256[:12]:<12} "
            f"{row.loaded_by:<24} {row.source}"
        )


@catalog_app.command("show")
def catalog_show(
    at: Annotated[
        str | None,
        typer.Option(help="ISO 8601 instant, e.g. 2026-10-15T00:00+09:00; default: now"),
    ] = None,
) -> None:
    """Print the catalog version in force at an instant (canonical JSON, credentials masked)."""
    from app.store.history import catalog_version_at

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    instant = _at(at, zone) if at is not None else datetime.now(UTC)
    with rt.sessions() as session:
        row = guarded(lambda: catalog_version_at(session, instant))
    if row is None:
        fail(
            f"--at {at or 'now'}: no catalog version was in force then; "
            "`kadou catalog history` lists the recorded ones"
        )
    typer.echo(
        f"# sha256 {row.sha256}, effective from {row.effective_from.astimezone(zone).isoformat()}, loaded by {row.loaded_by}"
    )
    typer.echo(json.dumps(json.loads(row.content), ensure_ascii=False, indent=2, sort_keys=True))
