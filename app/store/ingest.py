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
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
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


OBSERVATIONS = cast(Table, Observation.__table__)
UNBOUNDED_START = -(2**62)
UNBOUNDED_END = 2**62
INSERT_CHUNK = 2000


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
    """Epoch ms of a raw driver value: text on SQLite, a datetime on PostgreSQL."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return to_ms(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _raw(column: Any) -> Any:
    # Skip the type's per-row result processing: parsing text instants through
    # SQLAlchemy costs more than the query itself on a month of observations.
    return type_coerce(column, _RawInstant())


def _stored_instants(
    session: Session, check: str, location: str, first_ms: int, last_ms: int
) -> set[int]:
    query = select(_raw(Observation.observed_at)).where(
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
    statement = postgresql.insert(OBSERVATIONS).on_conflict_do_nothing()
    for start in range(0, len(rows), INSERT_CHUNK):
        connection.execute(
            statement,
            [
                {
                    "check": check,
                    "location": location,
                    "observed_at": from_ms(at_ms),
                    "ok": item.ok,
                    "latency_ms": item.latency_ms,
                    "detail": item.detail,
                }
                for at_ms, item in rows[start : start + INSERT_CHUNK]
            ],
        )


def _lock_timeline(
    session: Session, check: str, location: str, params: TimelineParams
) -> CheckTimeline:
    """Fetch (creating if needed) and lock the row that serialises this timeline's updates."""
    dialect = session.get_bind().dialect.name
    values = {
        "check": check,
        "location": location,
        "confirm": params.confirm,
        "stale_after_ms": params.stale_after_ms,
    }
    if dialect == "postgresql":
        session.execute(postgresql.insert(CheckTimeline).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(CheckTimeline).values(values).on_conflict_do_nothing())
    row = session.execute(
        select(CheckTimeline)
        .where(CheckTimeline.check == check, CheckTimeline.location == location)
        .with_for_update()
    ).scalar_one()
    return row


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
    range_start: int | None = None
    range_end: int | None = None
    if not full:
        before = session.execute(
            select(func.max(Observation.observed_at)).where(
                same_series,
                Observation.ok.is_(True),
                Observation.observed_at < from_ms(first_new_ms),
            )
        ).scalar_one_or_none()
        after = session.execute(
            select(func.min(Observation.observed_at)).where(
                same_series,
                Observation.ok.is_(True),
                Observation.observed_at > from_ms(last_new_ms),
            )
        ).scalar_one_or_none()
        range_start = None if before is None else to_ms(_aware(before))
        range_end = None if after is None else to_ms(_aware(after))

    query = select(_raw(Observation.observed_at), Observation.ok).where(same_series)
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
    existing = [
        Segment(to_ms(row.start_at), to_ms(row.end_at), CheckState(row.state))
        for row in session.execute(select(CheckSegment).where(*segment_filter)).scalars()
    ]
    spliced = splice_segments(existing, rebuilt, low, high)
    session.execute(delete(CheckSegment).where(*segment_filter))
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
    latest = session.execute(
        select(Observation).where(same_series).order_by(Observation.observed_at.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is not None:
        timeline.last_observed_at = latest.observed_at
        timeline.last_ok = latest.ok
        timeline.last_detail = latest.detail
        timeline.last_latency_ms = latest.latency_ms


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


def _aware(value: datetime) -> datetime:
    # Column results already come back aware from UTCDateTime; aggregate functions
    # (max/min) bypass the type on SQLite and return text or naive values.
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
