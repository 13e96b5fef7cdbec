"""An evaluation cut into pieces for pictures: the state strip and per-day figures.

Pages and reports draw these; they are derived from the same ``Evaluation`` as the
period's figures, so a strip or a daily bar can never disagree with the monthly number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from app.sla.availability import AvailabilityFigures, UnknownPolicy, compute_figures
from app.sla.evaluate import Evaluation
from app.sla.intervals import IntervalSet
from app.sla.periods import Period


class StripState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"
    EXCLUDED = "excluded"
    OUTSIDE_HOURS = "outside_hours"


@dataclass(frozen=True, slots=True)
class StripRun:
    start_ms: int
    end_ms: int
    state: StripState


def state_strip(evaluation: Evaluation) -> list[StripRun]:
    """The evaluated window as consecutive runs of one state, in time order.

    Inside scheduled time a run is up, down or unknown; outside it, excluded (a planned or
    disaster window inside operating hours) or outside operating hours.
    """
    timeline, schedule = evaluation.timeline, evaluation.schedule
    window = timeline.window
    scheduled = schedule.scheduled
    down = timeline.down & scheduled
    unknown = timeline.unknown & scheduled - down
    parts: list[tuple[IntervalSet, StripState]] = [
        (down, StripState.DOWN),
        (unknown, StripState.UNKNOWN),
        (scheduled - down - unknown, StripState.UP),
        (schedule.operating - scheduled, StripState.EXCLUDED),
        (window - schedule.operating, StripState.OUTSIDE_HOURS),
    ]
    runs = [StripRun(start, end, state) for intervals, state in parts for start, end in intervals]
    runs.sort(key=lambda run: run.start_ms)
    merged: list[StripRun] = []
    for run in runs:
        if merged and merged[-1].state is run.state and merged[-1].end_ms == run.start_ms:
            merged[-1] = StripRun(merged[-1].start_ms, run.end_ms, run.state)
        else:
            merged.append(run)
    return merged


def figures_for(
    evaluation: Evaluation,
    start_ms: int,
    end_ms: int,
    *,
    target: Fraction | None = None,
    policy: UnknownPolicy | None = None,
) -> AvailabilityFigures:
    """The §5 figures of the part ``[start_ms, end_ms)`` of an evaluation (e.g. one day).

    ``target`` and ``policy`` default to the evaluation's; a fiscal year's month gives its
    own month's (SLA-SEMANTICS §8)."""
    # A part still running (today) gets its whole scheduled time as its budget's base, as
    # the period does (§5).
    part = evaluation.schedule.clip(start_ms, end_ms)
    figures = evaluation.figures
    return compute_figures(
        part,
        evaluation.timeline.clip(start_ms, end_ms),
        figures.target if target is None else target,
        figures.policy if policy is None else policy,
    )


def daily_figures(
    evaluation: Evaluation, days: Sequence[Period]
) -> list[tuple[Period, AvailabilityFigures | None]]:
    """Figures per day; None for a day that lies beyond the evaluated window."""
    timeline = evaluation.timeline
    result: list[tuple[Period, AvailabilityFigures | None]] = []
    for day in days:
        if day.start_ms >= timeline.end_ms or day.end_ms <= timeline.start_ms:
            result.append((day, None))
        else:
            result.append((day, figures_for(evaluation, day.start_ms, day.end_ms)))
    return result
