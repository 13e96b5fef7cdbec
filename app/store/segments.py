"""Reads of the stored timeline: segments over a range or at an instant, last observations.

The evaluation and the current state read the timeline through these functions only, so
the shape of the ``check_segment`` and ``check_timeline`` tables stays inside the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, TypeVarTuple

from sqlalchemy import CursorResult, Select, func, select
from sqlalchemy.orm import Session

from app.sla.timeline import CheckState, Observation, Segment
from app.store.models import CheckSegment, CheckTimeline, EndMark
from app.store.models import Observation as ObservationRow
from app.store.types import epoch_ms, from_ms, to_ms

SegmentsByCheck = dict[tuple[str, str], list[Segment]]
SegmentRows = Select[str, str, int, int, str]
Row = TypeVarTuple("Row")

# The snapshot reads every check's month of segments each round: Core on the table (no ORM
# result machinery) and instants as epoch ms from the database (no datetime per value).
_SEGMENTS = CheckSegment.__table__.c
_TIMELINES = CheckTimeline.__table__.c
_STATES = {state.value: state for state in CheckState}


class TimelineHead(NamedTuple):
    """A (check, location) timeline's stored head, as ``last_observations`` reads it."""

    check: str
    location: str
    confirm: int
    stale_after_ms: int
    last_observed_at: datetime | None
    last_ok: bool | None
    last_detail: str | None
    last_latency_ms: float | None
    last_mark_at: datetime | None


def _core_rows(session: Session, query: Select[*Row]) -> CursorResult[*Row]:
    """``query``'s rows straight from the session's connection, flushing first as
    ``session.execute`` would, so pending changes are read back the same way."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(query)


def _segment_columns() -> SegmentRows:
    return select(
        _SEGMENTS.check,
        _SEGMENTS.location,
        epoch_ms(_SEGMENTS.start_at),
        epoch_ms(_SEGMENTS.end_at),
        _SEGMENTS.state,
    )


def _by_check(session: Session, query: SegmentRows) -> SegmentsByCheck:
    segments: SegmentsByCheck = defaultdict(list)
    for check, location, start_ms, end_ms, state in _core_rows(session, query):
        segments[(check, location)].append(
            Segment(start_ms, end_ms, _STATES.get(state) or CheckState(state))
        )
    return segments


def segments_between(
    session: Session, check_keys: Sequence[str], start_ms: int, end_ms: int
) -> SegmentsByCheck:
    """The segments of the given checks overlapping [start_ms, end_ms), per (check, location).

    Each list is in time order. Keys with no segment in the range are absent.
    """
    if not check_keys:
        return defaultdict(list)
    query = (
        _segment_columns()
        .where(
            _SEGMENTS.check.in_(list(check_keys)),
            _SEGMENTS.end_at > from_ms(start_ms),
            _SEGMENTS.start_at < from_ms(end_ms),
        )
        .order_by(_SEGMENTS.check, _SEGMENTS.location, _SEGMENTS.start_at)
    )
    return _by_check(session, query)


def segments_at(session: Session, instant_ms: int) -> SegmentsByCheck:
    """The segment covering ``instant_ms`` for every (check, location) that has one."""
    instant = from_ms(instant_ms)
    query = _segment_columns().where(_SEGMENTS.start_at <= instant, _SEGMENTS.end_at > instant)
    return _by_check(session, query)


def last_observations(
    session: Session, check_keys: Sequence[str] | None = None
) -> list[TimelineHead]:
    """Each (check, location)'s timeline head: its last observation, by location then check.

    ``check_keys`` limits the rows to those checks; None reads every check. Plain rows, not
    ORM objects: the snapshot reads every check's head each round.
    """
    query = select(*(_TIMELINES[field] for field in TimelineHead._fields))
    if check_keys is not None:
        query = query.where(_TIMELINES.check.in_(list(check_keys)))
    rows = _core_rows(session, query.order_by(_TIMELINES.location, _TIMELINES.check))
    return [TimelineHead._make(row) for row in rows]


def timeline_parameters(
    session: Session, check_keys: Sequence[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(confirm, stale_after_ms) each stored (check, location) timeline was built with."""
    if not check_keys:
        return {}
    query = select(
        CheckTimeline.check,
        CheckTimeline.location,
        CheckTimeline.confirm,
        CheckTimeline.stale_after_ms,
    ).where(CheckTimeline.check.in_(list(check_keys)))
    return {
        (check, location): (confirm, stale_after_ms)
        for check, location, confirm, stale_after_ms in session.execute(query)
    }


def observations_for_labelling(
    session: Session, check_keys: Sequence[str], start_ms: int, end_ms: int
) -> tuple[dict[tuple[str, str], list[Observation]], dict[tuple[str, str], list[int]]]:
    """The observations and end marks of the checks in [start_ms, end_ms), per (check,
    location), to label them again with other parameters than the stored timeline's."""
    observations: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    marks: dict[tuple[str, str], list[int]] = defaultdict(list)
    if not check_keys:
        return observations, marks
    keys = list(check_keys)
    start, end = from_ms(start_ms), from_ms(end_ms)
    query = (
        select(
            ObservationRow.check,
            ObservationRow.location,
            ObservationRow.observed_at,
            ObservationRow.ok,
        )
        .where(
            ObservationRow.check.in_(keys),
            ObservationRow.observed_at >= start,
            ObservationRow.observed_at < end,
        )
        .order_by(ObservationRow.check, ObservationRow.location, ObservationRow.observed_at)
    )
    for check, location, observed_at, ok in session.execute(query):
        observations[(check, location)].append(Observation(to_ms(observed_at), bool(ok)))
    mark_query = select(EndMark.check, EndMark.location, EndMark.at).where(
        EndMark.check.in_(keys), EndMark.at >= start, EndMark.at < end
    )
    for check, location, at in session.execute(mark_query):
        marks[(check, location)].append(to_ms(at))
    return observations, marks


def observation_counts(
    session: Session, check_keys: Sequence[str], start_ms: int, end_ms: int
) -> dict[tuple[str, str], tuple[int, int]]:
    """(observations, end marks) of each (check, location) in [start_ms, end_ms).

    Both are only ever inserted (or pruned), so equal counts over a range mean the same
    rows: what a result computed from them may be kept against.
    """
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    if not check_keys:
        return counts
    keys = list(check_keys)
    start, end = from_ms(start_ms), from_ms(end_ms)
    observed = (
        select(ObservationRow.check, ObservationRow.location, func.count())
        .where(
            ObservationRow.check.in_(keys),
            ObservationRow.observed_at >= start,
            ObservationRow.observed_at < end,
        )
        .group_by(ObservationRow.check, ObservationRow.location)
    )
    for check, location, count in session.execute(observed):
        counts[(check, location)] = (int(count), 0)
    marked = (
        select(EndMark.check, EndMark.location, func.count())
        .where(EndMark.check.in_(keys), EndMark.at >= start, EndMark.at < end)
        .group_by(EndMark.check, EndMark.location)
    )
    for check, location, count in session.execute(marked):
        counts[(check, location)] = (counts.get((check, location), (0, 0))[0], int(count))
    return counts
