"""``kadou import``: load observations from JSON Lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli._common import fail, guarded, require_schema, runtime
from app.store.db import transaction

IMPORT_BATCH = 50_000


def import_observations(
    file: Annotated[str, typer.Argument(help="JSON Lines file of observations, or - for stdin")],
) -> None:
    """Import observations (JSON Lines). A bad line rejects the whole file; duplicates are skipped."""
    from app.observations import batched, iter_json_lines
    from app.store.ingest import IngestResult, store_observations
    from app.store.partitions import maintain

    rt = runtime()
    require_schema(rt)
    checks = rt.catalog.checks()
    if file != "-" and not Path(file).is_file():
        fail(f"{file}: no such file")
    total = IngestResult()
    # The months ahead get their partitions (PostgreSQL) before rows arrive; rows of months
    # without one (old history) go to the default partition.
    guarded(lambda: maintain(rt.sessions, rt.timezone))

    def run() -> None:
        # One transaction for the whole file, fed in batches so memory stays flat: a bad
        # line anywhere rolls everything back, so nothing of a rejected file is stored.
        with (
            sys.stdin if file == "-" else open(file, encoding="utf-8") as lines,
            transaction(rt.sessions) as session,
        ):
            for batch in batched(iter_json_lines(lines, checks), IMPORT_BATCH):
                result = store_observations(session, batch, rt.timeline_params)
                total.received += result.received
                total.stored += result.stored
                total.duplicates += result.duplicates
                total.timelines_updated += result.timelines_updated
                total.marks += result.marks

    guarded(run)
    marks = ""
    if total.marks:
        marks = f" and {total.marks} end-of-observation mark{'s' if total.marks > 1 else ''}"
    typer.echo(
        f"imported {total.stored - total.marks} observations{marks} "
        f"({total.duplicates} duplicates skipped, {total.timelines_updated} timeline updates)"
    )
