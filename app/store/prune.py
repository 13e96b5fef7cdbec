"""Deleting raw observations and end marks older than a cut, in bounded batches.

Only ``observations`` and ``end_marks`` are touched: check segments, exclusions, the audit
log and closed months are kept for ever. Each batch is its own short transaction, so a
prune of millions of rows never holds a long lock (SQLite) or a huge transaction
(PostgreSQL), and probes keep being stored while it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from app.store.models import EndMark, Observation

BATCH_ROWS = 10_000


def oldest_observation(session: Session) -> datetime | None:
    """The instant of the oldest stored observation or end mark."""
    first = session.execute(select(func.min(Observation.observed_at))).scalar_one_or_none()
    mark = session.execute(select(func.min(EndMark.at))).scalar_one_or_none()
    found = [value for value in (first, mark) if value is not None]
    return min(found) if found else None


def rows_between(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """(observations, end marks) stored in [start, end)."""
    observations = session.execute(
        select(func.count())
        .select_from(Observation)
        .where(Observation.observed_at >= start, Observation.observed_at < end)
    ).scalar_one()
    marks = session.execute(
        select(func.count()).select_from(EndMark).where(EndMark.at >= start, EndMark.at < end)
    ).scalar_one()
    return int(observations), int(marks)


def delete_before(
    sessions: sessionmaker[Session], cut: datetime, *, batch_rows: int = BATCH_ROWS
) -> tuple[int, int]:
    """Delete observations and end marks before ``cut``, ``batch_rows`` per transaction;
    returns (observations, end marks) deleted."""
    observations = _delete_batches(
        sessions,
        (Observation.check, Observation.location, Observation.observed_at),
        Observation.observed_at < cut,
        Observation,
        batch_rows,
    )
    marks = _delete_batches(
        sessions,
        (EndMark.check, EndMark.location, EndMark.at),
        EndMark.at < cut,
        EndMark,
        batch_rows,
    )
    return observations, marks


def _delete_batches(
    sessions: sessionmaker[Session],
    key: tuple[object, ...],
    condition: object,
    table: type[Observation] | type[EndMark],
    batch_rows: int,
) -> int:
    deleted = 0
    while True:
        # The primary key of one batch, oldest first: both engines delete by key through
        # their primary-key index, and a batch never grows past batch_rows.
        chosen = select(*key).where(condition).limit(batch_rows)  # type: ignore[call-overload]
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
