"""Reads of the stored timeline: segments over a range or at an instant, last observations.

The evaluation and the current state read the timeline through these functions only, so
the shape of the ``check_segment`` and ``check_timeline`` tables stays inside the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.sla.timeline import CheckState, Observation, Segment
from app.store.models import CheckSegment, CheckTimeline, EndMark
from app.store.models import Observation as ObservationRow
from app.store.types import from_ms, to_ms

SegmentsByCheck = dict[tuple[str, str], list[Segment]]
SegmentRows = Select[str, str, datetime, datetime, str]


def _segment_columns() -> SegmentRows:
    return select(
        CheckSegment.check,
        CheckSegment.location,
        CheckSegment.start_at,
        CheckSegment.end_at,
        CheckSegment.state,
    )


def _by_check(session: Session, query: SegmentRows) -> SegmentsByCheck:
    segments: SegmentsByCheck = defaultdict(list)
    for check, location, start_at, end_at, state in session.execute(query):
        segments[(check, location)].append(
            Segment(to_ms(start_at), to_ms(end_at), CheckState(state))
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
            CheckSegment.check.in_(list(check_keys)),
            CheckSegment.end_at > from_ms(start_ms),
            CheckSegment.start_at < from_ms(end_ms),
        )
        .order_by(CheckSegment.check, CheckSegment.location, CheckSegment.start_at)
    )
    return _by_check(session, query)


def segments_at(session: Session, instant_ms: int) -> SegmentsByCheck:
    """The segment covering ``instant_ms`` for every (check, location) that has one."""
    instant = from_ms(instant_ms)
    query = _segment_columns().where(
        CheckSegment.start_at <= instant, CheckSegment.end_at > instant
    )
    return _by_check(session, query)


def last_observations(
    session: Session, check_keys: Sequence[str] | None = None
) -> list[CheckTimeline]:
    """Each (check, location)'s timeline head: its last observation, by location then check.

    ``check_keys`` limits the rows to those checks; None reads every check.
    """
    query = select(CheckTimeline)
    if check_keys is not None:
        query = query.where(CheckTimeline.check.in_(list(check_keys)))
    return list(
        session.execute(query.order_by(CheckTimeline.location, CheckTimeline.check)).scalars()
    )


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
