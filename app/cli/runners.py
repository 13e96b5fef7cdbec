"""``kadou runners``: probe runners seen by this database."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli._common import cli_actor, fail, require_schema, runtime
from app.store.db import transaction

runners_app = typer.Typer(help="Probe runners seen by this database.", no_args_is_help=True)


@runners_app.command("list")
def runners_list() -> None:
    """Every runner with its location, last heartbeat and how many checks it probes.

    The runners of one location share its checks; a runner whose heartbeat is stale owns
    none (its checks have gone to the others).
    """
    from datetime import UTC, datetime

    from app.assignments import location_assignment
    from app.store.runners import runner_heartbeats

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    now = datetime.now(UTC)
    with rt.sessions() as session:
        rows = runner_heartbeats(session)
    owned: dict[str, int] = {}
    for location in sorted({row.location for row in rows}):
        assignment = location_assignment(rt, location, now)
        owned.update({runner: len(keys) for runner, keys in assignment.checks.items()})
    for row in rows:
        share = (
            f"probes {owned[row.runner_id]} checks"
            if row.runner_id in owned
            else "stale: probes nothing"
        )
        typer.echo(
            f"{row.runner_id:<40} {row.location:<16} last seen "
            f"{row.last_seen_at.astimezone(zone).isoformat(timespec='seconds')} "
            f"(beats every {row.interval_ms / 1000:g} s), {share}"
        )
    if not rows:
        typer.echo("no probe runner has reported yet")


@runners_app.command("forget")
def runners_forget(
    runner_id: Annotated[str, typer.Argument(help="The runner id, as `kadou runners list` shows")],
) -> None:
    """Forget a decommissioned runner, so its stale heartbeat stops alerting."""
    from app.store.runners import forget_runner

    rt = runtime()
    require_schema(rt)
    with transaction(rt.sessions) as session:
        if not forget_runner(session, runner_id, actor=cli_actor().name, reason="decommissioned"):
            fail(f"no runner {runner_id!r}; see `kadou runners list`")
    typer.echo(f"forgot runner {runner_id}")
