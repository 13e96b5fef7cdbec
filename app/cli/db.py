"""``kadou db``: the database schema, its size, and relabelling stored observations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from app.cli._common import cli_actor, fail, guarded, require_schema, runtime, schema_state
from app.settings import get_settings
from app.store import audit
from app.store.db import transaction

db_app = typer.Typer(help="Database schema and size.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Bring the database schema to the latest version (creates a SQLite file if needed)."""
    from app.runtime import upgrade

    url = get_settings().database_url
    with _revision_errors(revision, "head"):
        guarded(lambda: upgrade(url, revision))
    typer.echo(f"database at {revision}: {_safe_url(url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(help="Target revision: a revision id, base, or -1 for one step (after --)"),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts)")
    ] = False,
) -> None:
    """Step the schema back to REVISION. Data kept by the undone revisions is lost, so the
    command says what will go and asks first."""
    from app.runtime import current_revision, downgrade
    from app.store.db import make_engine
    from app.store.schema import row_counts

    url = get_settings().database_url
    engine = make_engine(url)
    try:
        current = guarded(lambda: current_revision(engine))
        if current is None:
            fail(
                f"the database has no Kadou schema, there is nothing to downgrade: {_safe_url(url)}"
            )
        undone = _revisions_undone(url, current, revision)
        if not undone:
            typer.echo(f"database already at {current}: {_safe_url(url)}")
            return
        steps = ", ".join(f"{item.revision} ({item.doc})" for item in undone)
        if undone[-1].down_revision is None:
            counts = guarded(lambda: row_counts(engine))
            held = ", ".join(f"{name} {count:,}" for name, count in counts.items() if count)
            loss = f"drops every Kadou table and ALL its data ({held or 'the tables are empty'})"
        else:
            loss = "drops the tables and columns these revisions added, with their data"
        typer.echo(f"downgrading {_safe_url(url)} undoes {steps}: it {loss}.", err=True)
    finally:
        engine.dispose()
    if not yes and not _confirmed("This cannot be undone. Continue?"):
        fail("downgrade cancelled; nothing was changed (pass --yes to skip the question)")
    try:
        guarded(lambda: downgrade(url, revision))
    except typer.Exit:
        # A revision refused to go down. PostgreSQL undoes the whole downgrade; SQLite keeps
        # the revisions undone before the refusal. Either way, say where the schema is.
        engine = make_engine(url)
        try:
            reached = guarded(lambda: current_revision(engine))
        finally:
            engine.dispose()
        fail(f"the downgrade stopped; the database is at {reached or 'base'}: {_safe_url(url)}")
    typer.echo(f"database at {revision}: {_safe_url(url)}")


def _confirmed(question: str) -> bool:
    import click

    try:
        return typer.confirm(question, default=False, err=True)
    except (click.exceptions.Abort, typer.Abort):
        # No answer (standard input closed, or Ctrl-C): the safe answer is no.
        typer.echo("", err=True)
        return False


def _revisions_undone(url: str, current: str, revision: str) -> list[Any]:
    """The revisions a downgrade from ``current`` to ``revision`` undoes, newest first."""
    from alembic.script import ScriptDirectory

    from app.runtime import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    below = list(script.iterate_revisions(current, "base"))
    relative = re.fullmatch(r"-(\d+)", revision.strip())
    if relative:
        steps = int(relative.group(1))
        if not 1 <= steps <= len(below):
            fail(f"revision {revision}: the schema is {len(below)} step(s) above base ({current})")
        return below[:steps]
    with _revision_errors(revision, "base or -1 (typed `kadou db downgrade -- -1`)"):
        return list(script.iterate_revisions(current, revision))


@contextmanager
def _revision_errors(revision: str, also: str) -> Iterator[None]:
    """Alembic's errors about a revision as one line naming the revisions there are."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RangeNotAncestorError, RevisionError
    from alembic.util import CommandError

    from app.runtime import alembic_config

    try:
        yield
    except RangeNotAncestorError:
        fail(f"revision {revision!r} is not below the database's current revision")
    except (RevisionError, CommandError):
        script = ScriptDirectory.from_config(alembic_config(get_settings().database_url))
        known = [item.revision for item in script.walk_revisions()]
        fail(f"unknown revision {revision!r}; choose one of {', '.join(known)}, {also}")


@db_app.command("status")
def db_status() -> None:
    """Show the schema version and whether it is current."""
    rt = runtime()
    current, found, head = schema_state(rt)
    typer.echo(f"database: {_safe_url(rt.settings.database_url)}")
    typer.echo(
        f"schema: {found or 'empty'} (latest {head}){'' if current else ' - run kadou db upgrade'}"
    )


@db_app.command("rebuild-timeline")
def db_rebuild_timeline() -> None:
    """Relabel every stored observation with the catalog's current confirm/stale_after
    (after a prune: from each timeline's first success kept; the timeline before it stays)."""
    from app.retention import last_prune_cut
    from app.store.ingest import rebuild_timelines

    rt = runtime()
    require_schema(rt)
    with rt.sessions() as session:
        pruned = last_prune_cut(session)
    with transaction(rt.sessions) as session:
        count = rebuild_timelines(session, rt.timeline_params)
        # A rebuild may move the figures of closed months: the audit entry is the reason
        # their amendments give (SLA-SEMANTICS §9).
        audit.record(
            session,
            actor=cli_actor().name,
            action="rebuild",
            entity="timeline",
            entity_id=None,
            before=None,
            after={"timelines": count},
            reason="kadou db rebuild-timeline",
        )
    typer.echo(f"rebuilt {count} timelines")
    if pruned is not None:
        # The observations before the cut are gone: the timeline there stays as it was built.
        typer.echo(
            f"observations before {pruned.isoformat()} were pruned: each timeline was rebuilt "
            "from its first success kept, and is unchanged before it"
        )


@db_app.command("prune")
def db_prune(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print what would be deleted, month by month; change nothing"
        ),
    ] = False,
) -> None:
    """Delete raw observations older than KADOU_OBSERVATION_RETENTION (after writing the
    evidence bundle of each month they belong to); the timeline, exclusions, audit log and
    closed months are kept."""
    from app.retention import prune_observations

    rt = runtime()
    require_schema(rt)
    retention_ms = rt.settings.observation_retention_ms
    if retention_ms is None:
        typer.echo("KADOU_OBSERVATION_RETENTION is forever: nothing is pruned")
        return
    result = guarded(
        lambda: prune_observations(
            rt.sessions,
            rt.catalog,
            rt.timezone,
            rt.settings.report_dir,
            retention_ms,
            actor=cli_actor().name,
            dry_run=dry_run,
        )
    )
    plan = result.plan
    if plan is None:
        typer.echo(f"nothing older than {rt.settings.observation_retention}: nothing to prune")
        return
    if plan.held_by is not None:
        typer.echo(
            f"{plan.held_by} is not closed yet: observations from {plan.cut.isoformat()} on "
            f"are kept (instead of from {plan.requested_cut.isoformat()})"
        )
    if not plan.months and not plan.droppable:
        typer.echo(f"nothing to prune before {plan.cut.isoformat()}")
        return
    verb = "would delete" if dry_run else "deleting"
    for item in plan.months:
        typer.echo(
            f"{item.month}: {verb} {item.observations:,} observations, {item.end_marks:,} end marks"
        )
    for part in plan.partitions:
        span = _span(part.partition)
        if part.droppable:
            typer.echo(
                f"partition {part.partition.name} ({span}): "
                f"{'would drop' if dry_run else 'dropping'} it whole, {part.rows:,} observations"
            )
        else:
            typer.echo(
                f"partition {part.partition.name} ({span}) stays: {part.series_kept:,} "
                f"check(s) keep observations in it (their last success before the cut); "
                f"the others of its {part.rows:,} are deleted in batches"
            )
    if dry_run:
        for month in plan.bundles:
            typer.echo(f"{month}: would write the evidence bundle first")
        typer.echo("dry run: nothing was changed")
        return
    for path in result.bundles_written:
        typer.echo(f"wrote {path}")
    for name in result.partitions_dropped:
        typer.echo(f"dropped partition {name}")
    typer.echo(
        f"deleted {result.observations:,} observations and {result.end_marks:,} end marks "
        f"before {plan.cut.isoformat()} in {result.seconds:.1f} s"
    )


@db_app.command("stats")
def db_stats(
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="PostgreSQL: take row counts from the planner's statistics instead of "
            "counting (instant on a large observations table)",
        ),
    ] = False,
) -> None:
    """Rows and bytes per table (data and indexes), and bytes per stored observation."""
    from app.store.stats import database_size

    rt = runtime()
    require_schema(rt)
    size = guarded(lambda: database_size(rt.engine, estimate_rows=estimate))
    typer.echo(
        f"database: {_safe_url(rt.settings.database_url)} "
        f"({size.engine}, {_human_bytes(size.total_bytes)} in all)"
    )
    header = f"{'table':<22} {'rows':>15} {'data':>11} {'indexes':>11} {'total':>11}"
    typer.echo(header)
    for item in size.tables:
        _size_line(item, item.name)
        if item.name == "observations":
            # PostgreSQL: the monthly partitions the line above sums (see docs/deploy.md).
            for part in size.partitions:
                _size_line(part, f"  {part.name.removeprefix('observations_')}")
    observations = size.table("observations")
    if observations is None or observations.bytes_per_row is None:
        if observations is not None and observations.total_bytes is None:
            typer.echo("bytes per table: unknown (this SQLite has no dbstat table)")
        return
    typer.echo(f"{observations.bytes_per_row:.1f} bytes per stored observation (data and indexes)")


def _size_line(item: Any, label: str) -> None:
    rows = f"~{item.rows:,}" if item.rows_estimated else f"{item.rows:,}"
    typer.echo(
        f"{label:<22} {rows:>15} {_human_bytes(item.table_bytes):>11} "
        f"{_human_bytes(item.index_bytes):>11} {_human_bytes(item.total_bytes):>11}"
    )


def _span(partition: Any) -> str:
    start = "-" if partition.start is None else partition.start.isoformat()
    end = "-" if partition.end is None else partition.end.isoformat()
    return f"{start} to {end}"


def _human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
