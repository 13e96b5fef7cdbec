"""Deleting raw observations and end marks older than a cut, in bounded batches.

Only ``observations`` and ``end_marks`` are touched: check segments, exclusions, the audit
log and closed months are kept for ever. Each batch is its own short transaction, so a
prune of millions of rows never holds a long lock (SQLite) or a huge transaction
(PostgreSQL), and probes keep being stored while it runs.

Each (check, location) keeps its last success before the cut, and everything after it: a
success is a boundary whose label depends on nothing before it, so the timeline can still
be amended (late results, a new ``confirm``) from there on without the pruned past. A
series with no success before the cut (down for longer than the retention) keeps all of
its observations until it has one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from app.store.models import EndMark, Observation

BATCH_ROWS = 10_000

Series = tuple[str, str]


def oldest_observation(session: Session) -> datetime | None:
    """The instant of the oldest stored observation or end mark."""
    first = session.execute(select(func.min(Observation.observed_at))).scalar_one_or_none()
    mark = session.execute(select(func.min(EndMark.at))).scalar_one_or_none()
    found = [value for value in (first, mark) if value is not None]
    return min(found) if found else None


def prune_bounds(session: Session, cut: datetime) -> dict[Series, datetime]:
    """For each (check, location), the instant before which its rows may go: its last
    success before ``cut``."""
    rows = session.execute(
        select(Observation.check, Observation.location, func.max(Observation.observed_at))
        .where(Observation.ok.is_(True), Observation.observed_at < cut)
        .group_by(Observation.check, Observation.location)
    )
    return {(check, location): at for check, location, at in rows}


def first_successes(session: Session, start: datetime, cut: datetime) -> dict[Series, datetime]:
    """For each (check, location), its first success in [start, cut)."""
    rows = session.execute(
        select(Observation.check, Observation.location, func.min(Observation.observed_at))
        .where(
            Observation.ok.is_(True),
            Observation.observed_at >= start,
            Observation.observed_at < cut,
        )
        .group_by(Observation.check, Observation.location)
    )
    return {(check, location): at for check, location, at in rows}


def rows_between(
    session: Session, bounds: dict[Series, datetime], start: datetime, end: datetime
) -> tuple[int, int]:
    """(observations, end marks) in [start, end) that a prune with ``bounds`` deletes."""
    observations = marks = 0
    for (check, location), bound in bounds.items():
        until = min(end, bound)
        if until <= start:
            continue
        observations += session.execute(
            select(func.count())
            .select_from(Observation)
            .where(
                Observation.check == check,
                Observation.location == location,
                Observation.observed_at >= start,
                Observation.observed_at < until,
            )
        ).scalar_one()
        marks += session.execute(
            select(func.count())
            .select_from(EndMark)
            .where(
                EndMark.check == check,
                EndMark.location == location,
                EndMark.at >= start,
                EndMark.at < until,
            )
        ).scalar_one()
    return observations, marks


def delete_before(
    sessions: sessionmaker[Session],
    bounds: dict[Series, datetime],
    *,
    batch_rows: int = BATCH_ROWS,
) -> tuple[int, int]:
    """Delete each series' observations and end marks before its bound, ``batch_rows`` per
    transaction; returns (observations, end marks) deleted."""
    observations = marks = 0
    for (check, location), bound in sorted(bounds.items()):
        observations += _delete_batches(
            sessions,
            Observation,
            (Observation.check, Observation.location, Observation.observed_at),
            (
                Observation.check == check,
                Observation.location == location,
                Observation.observed_at < bound,
            ),
            batch_rows,
        )
        marks += _delete_batches(
            sessions,
            EndMark,
            (EndMark.check, EndMark.location, EndMark.at),
            (EndMark.check == check, EndMark.location == location, EndMark.at < bound),
            batch_rows,
        )
    return observations, marks


def _delete_batches(
    sessions: sessionmaker[Session],
    table: type[Observation] | type[EndMark],
    key: tuple[Any, ...],
    conditions: tuple[Any, ...],
    batch_rows: int,
) -> int:
    deleted = 0
    while True:
        # The primary keys of one batch: both engines delete through the primary-key index,
        # and a transaction never holds more than batch_rows rows.
        chosen = select(*key).where(*conditions).limit(batch_rows)
        with sessions() as session, session.begin():
            result = cast(
                "CursorResult[Any]",
                session.execute(
                    delete(table)
                    .where(tuple_(*key).in_(chosen))
                    .execution_options(synchronize_session=False)
                ),
            )
            count = int(result.rowcount)
        deleted += count
        if count < batch_rows:
            return deleted
