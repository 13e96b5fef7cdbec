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
than with probe frequency. The store only loads and writes: which range is affected and
what its segments become is decided by the pure core (``app.sla.timeline.amend`` and, for
results that merely extend the last segment, ``extends_tail``), so the stored timeline is
the one the property-tested core defines.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import DateTime, TypeDecorator

from app.errors import InvalidInput
from app.sla.timeline import (
    UNBOUNDED_END,
    UNBOUNDED_START,
    CheckState,
    Segment,
    amend,
    extends_tail,
)
from app.sla.timeline import Observation as TimedResult
from app.store.models import CheckSegment, CheckTimeline, EndMark, Observation, RunnerHeartbeat
from app.store.types import from_ms, to_ms


class _RawInstant(TypeDecorator[Any]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


# Rows per INSERT on PostgreSQL: bounds the size of one statement's arrays.
INSERT_CHUNK = 10_000


Series = tuple[str, str]
# Series per statement when reading timeline rows: bounds the bind parameters (three each).
STATE_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ObservationIn:
    """One probe result on its way in, already validated.

    With ``end_of_observation`` it is instead the mark of a runner that stopped cleanly at
    ``observed_at`` (SLA-SEMANTICS §3.1): it ends the hold of the check's last result
    there, and ``ok``, ``latency_ms`` and ``detail`` mean nothing.
    """

    check: str
    location: str
    observed_at: datetime
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None
    end_of_observation: bool = False


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
    # Of ``stored``: observations that only extended their timeline's last segment, and
    # end-of-observation marks.
    extended: int = 0
    marks: int = 0
    # Stored observations and marks older than ``late_before_ms`` (see
    # :func:`store_observations`): candidates for the audit of late data in closed months.
    late: list[ObservationIn] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _TimelineState:
    """What the fast path needs to know of a stored timeline, read in one statement."""

    params: TimelineParams
    last: TimedResult | None
    last_mark_ms: int | None
    tail: Segment | None


def store_observations(
    session: Session,
    observations: Sequence[ObservationIn],
    params: Mapping[str, TimelineParams],
    *,
    on_stored: Callable[[ObservationIn], None] | None = None,
    late_before_ms: int | None = None,
) -> IngestResult:
    """Insert new observations and marks (duplicates ignored) and amend the timelines.

    ``params`` holds the confirmation parameters of every check in the catalog; the caller
    has validated that every observation names one of them. ``on_stored`` is called with
    each observation actually inserted (not the duplicates, not the marks), e.g. to count
    probes.

    Most live results only extend their timeline's last segment (same state, no gap):
    those of a whole batch are stored with a few set-based statements and no read of
    observations. Every other (check, location) of the batch goes through the core's
    recomputation of its affected range (:func:`update_timeline`). Both give the timeline
    a full rebuild gives.

    With ``late_before_ms``, what was stored (not the duplicates) older than that instant
    is also listed in ``result.late``. Live results are newer: the check costs one
    comparison per series on the fast path and one per new observation on the other.
    """
    result = IngestResult(received=len(observations))
    results: dict[Series, dict[int, ObservationIn]] = defaultdict(dict)
    marks: dict[Series, set[int]] = defaultdict(set)
    for item in observations:
        series = (item.check, item.location)
        at_ms = to_ms(item.observed_at)
        if item.end_of_observation:
            marks[series].add(at_ms)
            continue
        kept = results[series].get(at_ms)
        # Two results for one instant in one batch: the failure wins, as in the core, so
        # the outcome does not depend on their order.
        if kept is None or (kept.ok and not item.ok):
            results[series][at_ms] = item
    every = sorted(set(results) | set(marks))
    states = _timeline_states(session, every)
    extended: dict[Series, Segment] = {}
    for series in every:
        state = states.get(series)
        if series in marks or state is None or state.last is None or state.tail is None:
            continue
        if state.params != params[series[0]]:
            continue
        new = [TimedResult(at_ms, item.ok) for at_ms, item in sorted(results[series].items())]
        tail = extends_tail(
            state.tail, state.last, state.last_mark_ms, new, state.params.stale_after_ms
        )
        if tail is not None:
            extended[series] = tail
            if late_before_ms is not None and new[0].at_ms < late_before_ms:
                result.late.extend(
                    item
                    for at_ms, item in sorted(results[series].items())
                    if at_ms < late_before_ms
                )
    if extended:
        _extend_tails(session, extended, results)
        for series in extended:
            items = results[series]
            result.stored += len(items)
            result.extended += len(items)
            result.timelines_updated += 1
            if on_stored is not None:
                for at_ms in sorted(items):
                    on_stored(items[at_ms])
    for series in every:
        if series in extended:
            continue
        check, location = series
        items = results.get(series, {})
        fresh: list[int] = []
        if items:
            # Keys already stored are found with one range scan of the primary key, so only
            # new observations are inserted and only their span of the timeline is rebuilt.
            stored = _stored_instants(session, check, location, min(items), max(items))
            fresh = sorted(at_ms for at_ms in items if at_ms not in stored)
        fresh_marks = _store_marks(session, check, location, marks.get(series, set()))
        if not fresh and not fresh_marks:
            continue
        first_new = min([*fresh[:1], *fresh_marks[:1]])
        if late_before_ms is not None and first_new < late_before_ms:
            _refuse_in_pruned_stretch(session, check, location, first_new)
        _insert_rows(session, [(check, location, at_ms, items[at_ms]) for at_ms in fresh])
        result.stored += len(fresh) + len(fresh_marks)
        result.marks += len(fresh_marks)
        if late_before_ms is not None:
            # ``fresh`` is sorted: the late ones are a prefix.
            late = fresh[: bisect_left(fresh, late_before_ms)]
            result.late.extend(map(items.__getitem__, late))
            result.late.extend(
                ObservationIn(check, location, from_ms(at_ms), False, end_of_observation=True)
                for at_ms in fresh_marks
                if at_ms < late_before_ms
            )
        if on_stored is not None:
            for at_ms in fresh:
                on_stored(items[at_ms])
        instants = [*fresh, *fresh_marks]
        update_timeline(session, check, location, min(instants), max(instants), params[check])
        result.timelines_updated += 1
    result.duplicates = result.received - result.stored
    return result


def _refuse_in_pruned_stretch(session: Session, check: str, location: str, first_ms: int) -> None:
    """Refuse a late result where this series' raw observations were pruned.

    A prune keeps the timeline but deletes the observations before each series' last
    success before its cut. An observation in that stretch would have its timeline
    relabelled from what is left (the outage before it erased), so it is refused; the
    caller's transaction then stores nothing. The stretch shows as segments that start
    before the series' earliest stored observation.
    """
    timeline_start = session.execute(
        select(func.min(CheckSegment.start_at)).where(
            CheckSegment.check == check, CheckSegment.location == location
        )
    ).scalar_one_or_none()
    earliest = session.execute(
        select(func.min(Observation.observed_at)).where(
            Observation.check == check, Observation.location == location
        )
    ).scalar_one_or_none()
    if timeline_start is None or earliest is None:
        return
    kept_from = _instant_ms(earliest)
    if _instant_ms(timeline_start) < kept_from and first_ms < kept_from:
        raise InvalidInput(
            f"{check} from {location} at {from_ms(first_ms).isoformat()}: the raw "
            f"observations of this check from this location before {from_ms(kept_from).isoformat()} "
            "were pruned (KADOU_OBSERVATION_RETENTION), so its timeline there can no longer "
            "be recomputed; leave out observations before that instant (the month's evidence "
            "bundle keeps the observations it was computed from)",
            field="observed_at",
        )


def _instant_ms(value: object) -> int:
    """Epoch ms of a raw driver value: text on SQLite, already an integer on PostgreSQL."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return to_ms(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _optional_ms(value: object) -> int | None:
    return None if value is None else _instant_ms(value)


def _epoch_ms(session: Session, column: Any) -> Any:
    """The instant column as something :func:`_instant_ms` turns into epoch ms cheaply.

    Building a datetime per row and converting it back costs more than the query itself
    on a day of observations: PostgreSQL computes the integer (``extract`` is exact
    numeric since PostgreSQL 14); SQLite hands over its text without type processing.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", column) * 1000, BigInteger)
    return type_coerce(column, _RawInstant())


def _sqlite_instant(at_ms: int) -> str:
    """The text form SQLAlchemy's SQLite DateTime writes and reads; sorting it sorts time."""
    return from_ms(at_ms).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _timeline_states(session: Session, every: Sequence[Series]) -> dict[Series, _TimelineState]:
    """The stored timeline rows of ``every`` series with their last segment, locked.

    On PostgreSQL the rows are first locked, in key order, by a statement of their own:
    concurrent writers of the same series queue instead of deadlocking, and the read that
    follows (a new statement, so a new snapshot) sees what the writer before committed.
    Locked in the same statement, the joined last segment could be the one from before
    that writer's commit. Every series of the batch is locked before any observation is
    inserted, in both paths. Series without a row yet are absent.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    tail_segment = aliased(CheckSegment)
    last_start = (
        select(func.max(tail_segment.start_at))
        .where(
            tail_segment.check == CheckTimeline.check,
            tail_segment.location == CheckTimeline.location,
        )
        .scalar_subquery()
    )
    states: dict[Series, _TimelineState] = {}
    for start in range(0, len(every), STATE_CHUNK):
        chunk = every[start : start + STATE_CHUNK]
        # The plain IN on the check is for PostgreSQL: given the row-value IN alone, when the
        # series share a location it takes "location = ..." as the only index condition and
        # filters every timeline row of that location through the whole list, so each batch
        # read the table in full (100 ms a batch of 200 at 10,000 checks, growing with the
        # catalog). With it, the primary key finds each row.
        wanted = and_(
            CheckTimeline.check.in_(sorted({check for check, _ in chunk})),
            tuple_(CheckTimeline.check, CheckTimeline.location).in_(chunk),
        )
        if postgres:
            session.execute(
                select(CheckTimeline.check)
                .where(wanted)
                .order_by(CheckTimeline.check, CheckTimeline.location)
                .with_for_update()
            )
        query = (
            select(
                CheckTimeline.check,
                CheckTimeline.location,
                CheckTimeline.confirm,
                CheckTimeline.stale_after_ms,
                _epoch_ms(session, CheckTimeline.last_observed_at),
                CheckTimeline.last_ok,
                _epoch_ms(session, CheckTimeline.last_mark_at),
                _epoch_ms(session, CheckSegment.start_at),
                _epoch_ms(session, CheckSegment.end_at),
                CheckSegment.state,
            )
            .outerjoin(
                CheckSegment,
                and_(
                    CheckSegment.check == CheckTimeline.check,
                    CheckSegment.location == CheckTimeline.location,
                    CheckSegment.start_at == last_start,
                ),
            )
            .where(wanted)
        )
        for row in session.execute(query):
            check, location, confirm, stale, last_at, last_ok, mark_at, start_at, end_at, state = (
                row
            )
            last_ms = _optional_ms(last_at)
            states[(check, location)] = _TimelineState(
                params=TimelineParams(confirm, stale),
                last=None if last_ms is None or last_ok is None else TimedResult(last_ms, last_ok),
                last_mark_ms=_optional_ms(mark_at),
                tail=None
                if start_at is None
                else Segment(_instant_ms(start_at), _instant_ms(end_at), CheckState(state)),
            )
    return states


def _extend_tails(
    session: Session,
    extended: Mapping[Series, Segment],
    results: Mapping[Series, Mapping[int, ObservationIn]],
) -> None:
    """Store observations that only extend their timeline's last segment, set-based.

    Three statements for the whole batch whatever the number of checks: the observations,
    the new ends of the last segments, the latest result on each timeline row.
    """
    rows: list[tuple[str, str, int, ObservationIn]] = []
    latest: list[tuple[str, str, int, ObservationIn]] = []
    for series in extended:
        check, location = series
        items = results[series]
        instants = sorted(items)
        rows.extend((check, location, at_ms, items[at_ms]) for at_ms in instants)
        latest.append((check, location, instants[-1], items[instants[-1]]))
    _insert_rows(session, rows)
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if connection.dialect.name == "sqlite":
            cursor.executemany(
                'UPDATE check_segments SET end_at = ? WHERE "check" = ? AND location = ? '
                "AND start_at = ?",
                [
                    (_sqlite_instant(tail.end_ms), check, location, _sqlite_instant(tail.start_ms))
                    for (check, location), tail in extended.items()
                ],
            )
            cursor.executemany(
                "UPDATE check_timelines SET last_observed_at = ?, last_ok = ?, last_detail = ?, "
                'last_latency_ms = ? WHERE "check" = ? AND location = ?',
                [
                    (_sqlite_instant(at_ms), item.ok, item.detail, item.latency_ms, check, location)
                    for check, location, at_ms, item in latest
                ],
            )
            return
        cursor.execute(
            _PG_EXTEND_TAILS,
            (
                [check for check, _ in extended],
                [location for _, location in extended],
                [tail.start_ms for tail in extended.values()],
                [tail.end_ms for tail in extended.values()],
            ),
        )
        cursor.execute(
            _PG_LATEST,
            (
                [check for check, _, _, _ in latest],
                [location for _, location, _, _ in latest],
                [at_ms for _, _, at_ms, _ in latest],
                [item.ok for _, _, _, item in latest],
                [item.detail for _, _, _, item in latest],
                [
                    None if item.latency_ms is None else float(item.latency_ms)
                    for _, _, _, item in latest
                ],
            ),
        )
    finally:
        cursor.close()


_PG_EXTEND_TAILS = (
    "UPDATE check_segments AS segment "
    "SET end_at = timestamptz 'epoch' + tail.end_ms * interval '1 millisecond' "
    "FROM unnest(%b::text[], %b::text[], %b::int8[], %b::int8[]) "
    'AS tail("check", location, start_ms, end_ms) '
    'WHERE segment."check" = tail."check" AND segment.location = tail.location '
    "AND segment.start_at = timestamptz 'epoch' + tail.start_ms * interval '1 millisecond'"
)

_PG_LATEST = (
    "UPDATE check_timelines AS timeline "
    "SET last_observed_at = timestamptz 'epoch' + latest.at_ms * interval '1 millisecond', "
    "last_ok = latest.ok, last_detail = latest.detail, last_latency_ms = latest.latency_ms "
    "FROM unnest(%b::text[], %b::text[], %b::int8[], %b::bool[], %b::text[], %b::float8[]) "
    'AS latest("check", location, at_ms, ok, detail, latency_ms) '
    'WHERE timeline."check" = latest."check" AND timeline.location = latest.location'
)


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


def stored_results(
    session: Session, check: str, location: str, instants_ms: Sequence[int]
) -> dict[int, bool]:
    """The stored result (ok) at each of ``instants_ms`` that has one, by epoch ms."""
    if not instants_ms:
        return {}
    wanted = set(instants_ms)
    query = select(_epoch_ms(session, Observation.observed_at), Observation.ok).where(
        Observation.check == check,
        Observation.location == location,
        Observation.observed_at >= from_ms(min(wanted)),
        Observation.observed_at <= from_ms(max(wanted)),
    )
    found = {_instant_ms(at): bool(ok) for at, ok in session.execute(query)}
    return {at_ms: ok for at_ms, ok in found.items() if at_ms in wanted}


def _store_marks(session: Session, check: str, location: str, instants: set[int]) -> list[int]:
    """Insert the end-of-observation marks not stored yet; returns their instants, sorted."""
    if not instants:
        return []
    query = select(_epoch_ms(session, EndMark.at)).where(
        EndMark.check == check,
        EndMark.location == location,
        EndMark.at >= from_ms(min(instants)),
        EndMark.at <= from_ms(max(instants)),
    )
    stored = {_instant_ms(value) for (value,) in session.execute(query)}
    fresh = sorted(instants - stored)
    if fresh:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(EndMark).on_conflict_do_nothing(),
            [{"check": check, "location": location, "at": from_ms(at_ms)} for at_ms in fresh],
        )
    return fresh


def _insert_rows(session: Session, rows: list[tuple[str, str, int, ObservationIn]]) -> None:
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        values = [
            (
                check,
                location,
                _sqlite_instant(at_ms),
                item.ok,
                item.latency_ms,
                item.detail,
            )
            for check, location, at_ms, item in rows
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
                    [check for check, _, _, _ in chunk],
                    [location for _, location, _, _ in chunk],
                    [at_ms for _, _, at_ms, _ in chunk],
                    [item.ok for _, _, _, item in chunk],
                    # One element type per array: an int among floats is refused.
                    [
                        None if item.latency_ms is None else float(item.latency_ms)
                        for _, _, _, item in chunk
                    ],
                    [item.detail for _, _, _, item in chunk],
                ),
            )
    finally:
        cursor.close()


# Duplicates (the primary key) are skipped as by ``INSERT ... ON CONFLICT DO NOTHING`` row by
# row, including rows a concurrent transaction inserts meanwhile. The arrays go in binary
# (%b): psycopg dumps a list of thousands of values several times faster than as text.
_PG_INSERT = (
    'INSERT INTO observations ("check", location, observed_at, ok, latency_ms, detail) '
    "SELECT fresh.check, fresh.location, "
    "timestamptz 'epoch' + fresh.at_ms * interval '1 millisecond', "
    "fresh.ok, fresh.latency_ms, fresh.detail "
    "FROM unnest(%b::text[], %b::text[], %b::int8[], %b::bool[], %b::float8[], %b::text[]) "
    'AS fresh("check", location, at_ms, ok, latency_ms, detail) '
    "ON CONFLICT DO NOTHING"
)


def _lock_timeline(
    session: Session, check: str, location: str, params: TimelineParams
) -> TimelineParams:
    """Lock (creating if needed) the row that serialises this timeline's updates; returns
    the parameters the stored timeline was built with."""
    locked = (
        select(CheckTimeline.confirm, CheckTimeline.stale_after_ms)
        .where(CheckTimeline.check == check, CheckTimeline.location == location)
        .with_for_update()
    )
    # The row exists after a series' first batch: lock it in one round trip, and create it
    # only when missing. Two first batches racing both insert-or-ignore, then queue on the
    # same row lock.
    row = session.execute(locked).one_or_none()
    if row is None:
        values = {
            "check": check,
            "location": location,
            "confirm": params.confirm,
            "stale_after_ms": params.stale_after_ms,
        }
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(CheckTimeline).values(values).on_conflict_do_nothing())
        row = session.execute(locked).one()
    return TimelineParams(row.confirm, row.stale_after_ms)


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
    """Amend the timeline for new observations or marks in [first_new_ms, last_new_ms].

    The store only loads: the observations and marks between the neighbouring successes
    (the boundaries of ``app.sla.timeline.affected_range``) and the segments that touch
    them. The core computes the change (:func:`app.sla.timeline.amend`), which is then
    written as is. ``full`` loads everything and rebuilds the whole timeline.
    """
    series = (CheckTimeline.check == check, CheckTimeline.location == location)
    if _lock_timeline(session, check, location, params) != params:
        # The catalog changed how this check is confirmed: the whole history is relabelled.
        full = True
        session.execute(
            update(CheckTimeline)
            .where(*series)
            .values(confirm=params.confirm, stale_after_ms=params.stale_after_ms)
        )
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
    last_mark = (
        select(EndMark.at)
        .where(EndMark.check == check, EndMark.location == location)
        .order_by(EndMark.at.desc())
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
    neighbours = session.execute(
        select(before, after, last_mark, *latest.c).select_from(latest)
    ).one_or_none()
    range_start: int | None = None
    range_end: int | None = None
    latest_values: dict[str, Any] = {}
    if neighbours is not None:
        # No row means no observation at all, hence no success on either side.
        before_at, after_at, mark_at, last_at, last_ok, last_detail, last_latency_ms = neighbours
        if not full:
            range_start = None if before_at is None else _instant_ms(before_at)
            range_end = None if after_at is None else _instant_ms(after_at)
        latest_values = {
            "last_observed_at": last_at,
            "last_ok": last_ok,
            "last_detail": last_detail,
            "last_latency_ms": last_latency_ms,
            "last_mark_at": mark_at,
        }
    else:
        latest_values = {"last_mark_at": session.execute(select(last_mark)).scalar_one_or_none()}
    session.execute(update(CheckTimeline).where(*series).values(**latest_values))

    query = select(_epoch_ms(session, Observation.observed_at), Observation.ok).where(same_series)
    mark_query = select(_epoch_ms(session, EndMark.at)).where(
        EndMark.check == check, EndMark.location == location
    )
    segment_query = select(
        _epoch_ms(session, CheckSegment.start_at),
        _epoch_ms(session, CheckSegment.end_at),
        CheckSegment.state,
    ).where(CheckSegment.check == check, CheckSegment.location == location)
    if range_start is not None:
        query = query.where(Observation.observed_at >= from_ms(range_start))
        mark_query = mark_query.where(EndMark.at >= from_ms(range_start))
        segment_query = segment_query.where(CheckSegment.end_at >= from_ms(range_start))
    if range_end is not None:
        query = query.where(Observation.observed_at <= from_ms(range_end))
        mark_query = mark_query.where(EndMark.at <= from_ms(range_end))
        segment_query = segment_query.where(CheckSegment.start_at <= from_ms(range_end))
    observed = [TimedResult(_instant_ms(at), bool(ok)) for at, ok in session.execute(query)]
    marks = [_instant_ms(at) for (at,) in session.execute(mark_query)]
    existing = sorted(
        (
            Segment(_instant_ms(start_at), _instant_ms(end_at), CheckState(state))
            for start_at, end_at, state in session.execute(segment_query)
        ),
        key=lambda segment: segment.start_ms,
    )
    if full:
        first_new_ms, last_new_ms = UNBOUNDED_START, UNBOUNDED_END
        retained = [result.at_ms for result in observed] + marks
        if existing and retained and existing[0].start_ms < min(retained):
            # Observations before the timeline's start were pruned (retention): relabel only
            # from the first retained success on, a boundary whose label depends on nothing
            # before it, and keep the timeline before it as it was built.
            first_success = min((r.at_ms for r in observed if r.ok), default=None)
            if first_success is None:
                return
            first_new_ms = first_success + 1
    change = amend(
        existing,
        observed,
        marks,
        first_new_ms,
        last_new_ms,
        params.confirm,
        params.stale_after_ms,
    )
    if change.removed:
        session.execute(
            delete(CheckSegment).where(
                CheckSegment.check == check,
                CheckSegment.location == location,
                CheckSegment.start_at.in_(
                    [from_ms(segment.start_ms) for segment in change.removed]
                ),
            )
        )
    if change.added:
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
                for segment in change.added
            ],
        )


def rebuild_timelines(session: Session, params: Mapping[str, TimelineParams]) -> int:
    """Relabel every stored (check, location) from scratch, e.g. after a catalog change."""
    series = session.execute(
        select(Observation.check, Observation.location)
        .distinct()
        .union(select(EndMark.check, EndMark.location).distinct())
    ).all()
    rebuilt = 0
    for check, location in sorted(series):
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
