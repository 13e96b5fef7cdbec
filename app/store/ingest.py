"""Storing observations and keeping each check's timeline of state changes up to date.

Every write path (``kadou import``, the embedded probe runner, ``POST /api/v1/results``)
goes through :func:`store_observations`, in the caller's transaction, so a batch is
either stored whole with its timeline amended, or not at all.

Why the timeline can be amended locally: a successful observation is always labelled up
and ends any run of failures, so an observation can only change the labels and holding
between the last success before it and the first success after it. Those two successes
bound the range that is rebuilt from raw observations (see ``app.sla.timeline``); the
rest of the timeline is untouched. Late and out-of-order observations therefore cost a
small rebuild, and reports read segments, whose number grows with state changes rather
than with probe frequency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    cast,
    delete,
    extract,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import DateTime, TypeDecorator

from app.sla.timeline import CheckState, Segment, build_segments, splice_segments
from app.sla.timeline import Observation as TimedResult
from app.store.models import CheckSegment, CheckTimeline, Observation, RunnerHeartbeat
from app.store.types import from_ms, to_ms


class _RawInstant(TypeDecorator[Any]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


UNBOUNDED_START = -(2**62)
UNBOUNDED_END = 2**62
# Rows per INSERT on PostgreSQL: bounds the size of one statement's arrays.
INSERT_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class ObservationIn:
    """One probe result on its way in, already validated."""

    check: str
    location: str
    observed_at: datetime
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineParams:
    confirm: int
    stale_after_ms: int


@dataclass(frozen=True, slots=True)
class HeartbeatIn:
    runner_id: str
    location: str
    at: datetime
    interval_ms: int


@dataclass(slots=True)
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    timelines_updated: int = 0


def store_observations(
    session: Session,
    observations: Sequence[ObservationIn],
    params: Mapping[str, TimelineParams],
    *,
    on_stored: Callable[[ObservationIn], None] | None = None,
) -> IngestResult:
    """Insert new observations (duplicates ignored) and amend the affected timelines.

    ``params`` holds the confirmation parameters of every check in the catalog; the caller
    has validated that every observation names one of them. ``on_stored`` is called with
    each observation actually inserted (not the duplicates), e.g. to count probes.
    """
    result = IngestResult(received=len(observations))
    by_series: dict[tuple[str, str], dict[int, ObservationIn]] = defaultdict(dict)
    for item in observations:
        by_series[(item.check, item.location)].setdefault(to_ms(item.observed_at), item)
    for (check, location), items in sorted(by_series.items()):
        # Keys already stored are found with one range scan of the primary key, so only
        # new observations are inserted and only their span of the timeline is rebuilt.
        stored = _stored_instants(session, check, location, min(items), max(items))
        fresh = sorted(at_ms for at_ms in items if at_ms not in stored)
        if not fresh:
            continue
        _insert_rows(session, check, location, [(at_ms, items[at_ms]) for at_ms in fresh])
        result.stored += len(fresh)
        if on_stored is not None:
            for at_ms in fresh:
                on_stored(items[at_ms])
        update_timeline(session, check, location, fresh[0], fresh[-1], params[check])
        result.timelines_updated += 1
    result.duplicates = result.received - result.stored
    return result


def _instant_ms(value: object) -> int:
    """Epoch ms of a raw driver value: text on SQLite, already an integer on PostgreSQL."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return to_ms(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _epoch_ms(session: Session, column: Any) -> Any:
    """The instant column as something :func:`_instant_ms` turns into epoch ms cheaply.

    Building a datetime per row and converting it back costs more than the query itself
    on a day of observations: PostgreSQL computes the integer (``extract`` is exact
    numeric since PostgreSQL 14); SQLite hands over its text without type processing.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", column) * 1000, BigInteger)
    return type_coerce(column, _RawInstant())


def _stored_instants(
    session: Session, check: str, location: str, first_ms: int, last_ms: int
) -> set[int]:
    query = select(_epoch_ms(session, Observation.observed_at)).where(
        Observation.check == check,
        Observation.location == location,
        Observation.observed_at >= from_ms(first_ms),
        Observation.observed_at <= from_ms(last_ms),
    )
    return {_instant_ms(value) for (value,) in session.execute(query)}


def _insert_rows(
    session: Session, check: str, location: str, rows: list[tuple[int, ObservationIn]]
) -> None:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # The text form SQLAlchemy's SQLite DateTime writes and reads; sorting it sorts time.
        values = [
            (
                check,
                location,
                from_ms(at_ms).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                item.ok,
                item.latency_ms,
                item.detail,
            )
            for at_ms, item in rows
        ]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                'INSERT OR IGNORE INTO observations ("check", location, observed_at, ok, '
                "latency_ms, detail) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        finally:
            cursor.close()
        return
    # One statement per chunk with the columns as arrays: SQLAlchemy's executemany sends
    # one INSERT per row through psycopg's pipeline, which was two thirds of the time of
    # storing a day. Instants travel as epoch ms and are made exact timestamps server side.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            cursor.execute(
                _PG_INSERT,
                (
                    check,
                    location,
                    [at_ms for at_ms, _ in chunk],
                    [item.ok for _, item in chunk],
                    # One element type per array: an int among floats is refused.
                    [
                        None if item.latency_ms is None else float(item.latency_ms)
                        for _, item in chunk
                    ],
                    [item.detail for _, item in chunk],
                ),
            )
    finally:
        cursor.close()


# Duplicates (the primary key) are skipped as by ``INSERT ... ON CONFLICT DO NOTHING`` row by
# row, including rows a concurrent transaction inserts meanwhile. The arrays go in binary
# (%b): psycopg dumps a list of thousands of values several times faster than as text.
_PG_INSERT = (
    'INSERT INTO observations ("check", location, observed_at, ok, latency_ms, detail) '
    "SELECT %s, %s, timestamptz 'epoch' + fresh.at_ms * interval '1 millisecond', "
    "fresh.ok, fresh.latency_ms, fresh.detail "
    "FROM unnest(%b::int8[], %b::bool[], %b::float8[], %b::text[]) "
    "AS fresh(at_ms, ok, latency_ms, detail) "
    "ON CONFLICT DO NOTHING"
)


def _lock_timeline(
    session: Session, check: str, location: str, params: TimelineParams
) -> CheckTimeline:
    """Fetch (creating if needed) and lock the row that serialises this timeline's updates."""
    locked = (
        select(CheckTimeline)
        .where(CheckTimeline.check == check, CheckTimeline.location == location)
        .with_for_update()
    )
    # The row exists after a series' first batch: lock it in one round trip, and create it
    # only when missing. Two first batches racing both insert-or-ignore, then queue on the
    # same row lock.
    row = session.execute(locked).scalar_one_or_none()
    if row is not None:
        return row
    values = {
        "check": check,
        "location": location,
        "confirm": params.confirm,
        "stale_after_ms": params.stale_after_ms,
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(CheckTimeline).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(CheckTimeline).values(values).on_conflict_do_nothing())
    return session.execute(locked).scalar_one()


# LIMIT as a literal: a bound LIMIT keeps PostgreSQL from settling on a cheap generic plan.
_ONE: ColumnClause[int] = literal_column("1", Integer)


def update_timeline(
    session: Session,
    check: str,
    location: str,
    first_new_ms: int,
    last_new_ms: int,
    params: TimelineParams,
    *,
    full: bool = False,
) -> None:
    """Rebuild the segments that observations in [first_new_ms, last_new_ms] can affect."""
    timeline = _lock_timeline(session, check, location, params)
    if timeline.confirm != params.confirm or timeline.stale_after_ms != params.stale_after_ms:
        # The catalog changed how this check is confirmed: the whole history is relabelled.
        full = True
        timeline.confirm = params.confirm
        timeline.stale_after_ms = params.stale_after_ms
    same_series = and_(Observation.check == check, Observation.location == location)
    successes = and_(same_series, Observation.ok.is_(True))
    # One round trip for the neighbouring successes A and B and the latest observation,
    # which the timeline row keeps for live views. Each is a LIMIT 1 walk of the primary
    # key from the new range outwards: as max()/min(), PostgreSQL with stale statistics
    # (a young table, a new series) aggregated every earlier observation of the series.
    before = (
        select(Observation.observed_at)
        .where(successes, Observation.observed_at < from_ms(first_new_ms))
        .order_by(Observation.observed_at.desc())
        .limit(_ONE)
        .scalar_subquery()
    )
    after = (
        select(Observation.observed_at)
        .where(successes, Observation.observed_at > from_ms(last_new_ms))
        .order_by(Observation.observed_at)
        .limit(_ONE)
        .scalar_subquery()
    )
    latest = (
        select(Observation.observed_at, Observation.ok, Observation.detail, Observation.latency_ms)
        .where(same_series)
        .order_by(Observation.observed_at.desc())
        .limit(_ONE)
        .subquery()
    )
    neighbours = session.execute(select(before, after, *latest.c).select_from(latest)).one_or_none()
    range_start: int | None = None
    range_end: int | None = None
    if neighbours is not None:
        # No row means no observation at all, hence no success on either side.
        before_at, after_at, last_at, last_ok, last_detail, last_latency_ms = neighbours
        if not full:
            range_start = None if before_at is None else _instant_ms(before_at)
            range_end = None if after_at is None else _instant_ms(after_at)
        timeline.last_observed_at = last_at
        timeline.last_ok = last_ok
        timeline.last_detail = last_detail
        timeline.last_latency_ms = last_latency_ms

    query = select(_epoch_ms(session, Observation.observed_at), Observation.ok).where(same_series)
    if range_start is not None:
        query = query.where(Observation.observed_at >= from_ms(range_start))
    if range_end is not None:
        query = query.where(Observation.observed_at <= from_ms(range_end))
    observed = [
        TimedResult(_instant_ms(at), bool(ok))
        for at, ok in session.execute(query.order_by(Observation.observed_at))
    ]
    rebuilt = build_segments(observed, params.confirm, params.stale_after_ms, until_ms=range_end)

    low = UNBOUNDED_START if range_start is None else range_start
    high = UNBOUNDED_END if range_end is None else range_end
    segment_filter = [CheckSegment.check == check, CheckSegment.location == location]
    if range_start is not None:
        segment_filter.append(CheckSegment.end_at >= from_ms(range_start))
    if range_end is not None:
        segment_filter.append(CheckSegment.start_at <= from_ms(range_end))
    # The segments the splice replaces are read by the DELETE that removes them. RETURNING
    # has no order, and the splice expects the existing segments in time order.
    removed = session.execute(
        delete(CheckSegment)
        .where(*segment_filter)
        .returning(CheckSegment.start_at, CheckSegment.end_at, CheckSegment.state)
    )
    existing = sorted(
        (
            Segment(to_ms(start_at), to_ms(end_at), CheckState(state))
            for start_at, end_at, state in removed
        ),
        key=lambda segment: segment.start_ms,
    )
    spliced = splice_segments(existing, rebuilt, low, high)
    if spliced:
        session.execute(
            insert(CheckSegment),
            [
                {
                    "check": check,
                    "location": location,
                    "start_at": from_ms(segment.start_ms),
                    "end_at": from_ms(segment.end_ms),
                    "state": segment.state.value,
                }
                for segment in spliced
            ],
        )


def rebuild_timelines(session: Session, params: Mapping[str, TimelineParams]) -> int:
    """Relabel every stored (check, location) from scratch, e.g. after a catalog change."""
    series = session.execute(select(Observation.check, Observation.location).distinct()).all()
    rebuilt = 0
    for check, location in series:
        if check in params:
            update_timeline(session, check, location, 0, 0, params[check], full=True)
            rebuilt += 1
    return rebuilt


def record_heartbeat(session: Session, heartbeat: HeartbeatIn) -> None:
    values = {
        "runner_id": heartbeat.runner_id,
        "location": heartbeat.location,
        "last_seen_at": heartbeat.at,
        "interval_ms": heartbeat.interval_ms,
        "started_at": heartbeat.at,
    }
    update = {"location": heartbeat.location, "interval_ms": heartbeat.interval_ms}
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(RunnerHeartbeat).values(values)
        session.execute(
            pg.on_conflict_do_update(
                index_elements=["runner_id"],
                set_={
                    **update,
                    "last_seen_at": func.greatest(
                        RunnerHeartbeat.last_seen_at, pg.excluded.last_seen_at
                    ),
                },
            )
        )
    else:
        lite = sqlite.insert(RunnerHeartbeat).values(values)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=["runner_id"],
                set_={
                    **update,
                    "last_seen_at": func.max(
                        RunnerHeartbeat.last_seen_at, lite.excluded.last_seen_at
                    ),
                },
            )
        )
