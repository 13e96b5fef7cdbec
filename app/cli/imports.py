"""``kadou import``: load observations from JSON Lines."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from sqlalchemy.orm import Session

from app.cli._common import cli_actor, fail, guarded, require_schema, runtime
from app.errors import InvalidInput
from app.store.db import transaction
from app.store.ingest import ObservationIn
from app.store.types import to_ms

IMPORT_BATCH = 50_000


def import_observations(
    file: Annotated[str, typer.Argument(help="JSON Lines file of observations, or - for stdin")],
) -> None:
    """Import observations (JSON Lines). A bad line rejects the whole file; duplicates are skipped."""
    from app.observations import batched, iter_numbered_json_lines
    from app.store.ingest import IngestResult, store_observations
    from app.store.late import LateObservations
    from app.store.partitions import maintain

    rt = runtime()
    require_schema(rt)
    checks = rt.catalog.checks()
    if file != "-" and not Path(file).is_file():
        fail(f"{file}: no such file")
    total = IngestResult()
    actor = cli_actor().name
    # The months ahead get their partitions (PostgreSQL) before rows arrive; rows of months
    # without one (old history) go to the default partition.
    guarded(lambda: maintain(rt.sessions, rt.timezone))

    def run(lines: IO[str], path: Path) -> None:
        # One transaction for the whole file, fed in batches so memory stays flat: a bad
        # line anywhere rolls everything back, so nothing of a rejected file is stored.
        with transaction(rt.sessions) as session:
            late = LateObservations(rt.late_audit)
            late_before_ms = rt.late_audit.current_month_start_ms()
            for numbered in batched(iter_numbered_json_lines(lines, checks), IMPORT_BATCH):
                batch = [observation for _, observation in numbered]
                result = store_observations(
                    session, batch, rt.timeline_params, late_before_ms=late_before_ms
                )
                if result.duplicates or result.marks:
                    # Only a batch with a key seen twice (in it, or stored before) can hold
                    # a conflict, or one with a runner's stop mark (stored apart from the
                    # results): the check costs nothing on a plain file without repeats.
                    # The transaction then rolls back what the batch stored.
                    _refuse_conflicts_within(numbered)
                    _refuse_conflicts_with_earlier_lines(session, numbered, path, checks)
                late.add(session, result.late)
                total.received += result.received
                total.stored += result.stored
                total.duplicates += result.duplicates
                total.timelines_updated += result.timelines_updated
                total.marks += result.marks
            # One audit entry for the whole file when it added to closed months (§9).
            late.record(session, actor=actor)

    def run_file() -> None:
        if file != "-":
            with open(file, encoding="utf-8") as lines:
                run(lines, Path(file))
            return
        # Standard input is copied aside first: a conflict found late in the stream is
        # reported with the line that it contradicts, which means reading it again.
        with tempfile.NamedTemporaryFile("w+", encoding="utf-8", suffix=".jsonl") as copy:
            shutil.copyfileobj(sys.stdin, copy)
            copy.flush()
            copy.seek(0)
            run(copy, Path(copy.name))

    guarded(run_file)
    marks = ""
    if total.marks:
        marks = f" and {total.marks} end-of-observation mark{'s' if total.marks > 1 else ''}"
    typer.echo(
        f"imported {total.stored - total.marks} observations{marks} "
        f"({total.duplicates} duplicates skipped, {total.timelines_updated} timeline updates)"
    )


def _conflict(first: int, second: int, observation: ObservationIn) -> InvalidInput:
    return InvalidInput(
        f"lines {first} and {second} are the same observation ({observation.check} from "
        f"{observation.location} at {observation.observed_at.isoformat()}) with different "
        "results; keep the right one and remove the other line. Nothing was imported",
        field="observed_at",
    )


def _refuse_conflicts_within(numbered: list[tuple[int, ObservationIn]]) -> None:
    """The same rule as an API batch (``conflicting_duplicate``), named by line."""
    from app.observations import conflicting_duplicate

    found = conflicting_duplicate([observation for _, observation in numbered])
    if found is not None:
        first, second = found
        raise _conflict(numbered[first][0], numbered[second][0], numbered[second][1])


def _refuse_conflicts_with_earlier_lines(
    session: Session,
    numbered: list[tuple[int, ObservationIn]],
    path: Path,
    checks: Mapping[str, Any],
) -> None:
    """A result of this batch whose key was already stored with a different result, by an
    earlier line of the same file: refused, naming both lines.

    Earlier batches are not kept in memory (a file may hold millions of lines): the store
    tells which result each key of the batch has now (this batch's own where it was new),
    and only on a contradiction is the file read again to find the line. A contradiction
    with what was stored before this import (another source) is not this rule's business:
    the stored result stays, as for any duplicate.
    """
    from app.store.ingest import stored_results

    skipped: Mapping[tuple[str, str], list[tuple[int, ObservationIn]]] = defaultdict(list)
    for number, observation in numbered:
        if not observation.end_of_observation:
            skipped[(observation.check, observation.location)].append((number, observation))
    for (check, location), items in skipped.items():
        results = stored_results(session, check, location, [to_ms(o.observed_at) for _, o in items])
        for number, observation in items:
            previous = results.get(to_ms(observation.observed_at))
            if previous is not None and previous != observation.ok:
                earlier = _earlier_line(path, checks, observation, number)
                if earlier is not None:
                    raise _conflict(earlier, number, observation)


def _earlier_line(
    path: Path,
    checks: Mapping[str, Any],
    observation: ObservationIn,
    before: int,
) -> int | None:
    """The first line before ``before`` with the same key and another result, or None."""
    from app.observations import iter_numbered_json_lines, observation_key

    key = observation_key(observation)
    with path.open(encoding="utf-8") as lines:
        # Only lines that can be about the same check are decoded; the others are blanked
        # (skipped) so the numbering stays that of the file.
        head = (
            line if observation.check in line else "\n"
            for number, line in enumerate(lines, start=1)
            if number < before
        )
        for number, other in iter_numbered_json_lines(head, checks):
            if observation_key(other) == key and other.ok != observation.ok:
                return number
    return None
