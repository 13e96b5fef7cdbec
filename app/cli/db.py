"""``kadou db``: the database schema, and relabelling stored observations."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli._common import guarded, require_schema, runtime
from app.settings import get_settings
from app.store.db import transaction

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Bring the database schema to the latest version (creates a SQLite file if needed)."""
    from app.runtime import upgrade

    url = get_settings().database_url
    guarded(lambda: upgrade(url, revision))
    typer.echo(f"database at {revision}: {_safe_url(url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base")],
) -> None:
    """Step the schema back to REVISION (data in dropped tables is lost)."""
    from app.runtime import downgrade

    url = get_settings().database_url
    guarded(lambda: downgrade(url, revision))
    typer.echo(f"database at {revision}: {_safe_url(url)}")


@db_app.command("status")
def db_status() -> None:
    """Show the schema version and whether it is current."""
    rt = runtime()
    current, found, head = rt.schema_is_current()
    typer.echo(f"database: {_safe_url(rt.settings.database_url)}")
    typer.echo(
        f"schema: {found or 'empty'} (latest {head}){'' if current else ' - run kadou db upgrade'}"
    )


@db_app.command("rebuild-timeline")
def db_rebuild_timeline() -> None:
    """Relabel every stored observation with the catalog's current confirm/stale_after."""
    from app.store.ingest import rebuild_timelines

    rt = runtime()
    require_schema(rt)
    with transaction(rt.sessions) as session:
        count = rebuild_timelines(session, rt.timeline_params)
    typer.echo(f"rebuilt {count} timelines")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
