"""Scheduled time and the availability figures of SLA-SEMANTICS §4 and §5.

Every figure is the measure of a set of instants intersected with the scheduled set ``S``,
so the figures add up exactly (``S = up + D + U`` to the millisecond) and ratios are exact
``Fraction`` values: ``1 - 0.999`` is exactly ``1/1000`` here, unlike in floating point.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from app.sla.exclusions import ExclusionKind, ExclusionWindow, union_by_kind
from app.sla.intervals import IntervalSet
from app.sla.timeline import Timeline

# Below this coverage a period is flagged "insufficient data" (§5).
INSUFFICIENT_COVERAGE = Fraction(99, 100)
NO_VALUE = "—"


class UnknownPolicy(StrEnum):
    EXCLUDE = "exclude"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Schedule:
    """When something is scheduled inside the evaluated window, and what was excluded.

    All sets lie inside the evaluated window ``[period start, min(period end, cutoff))``:
    ``scheduled = operating \\ (planned ∪ disaster)``; the excluded part of the operating
    hours is split by kind, an overlap of both kinds counting once, as disaster.
    """

    scheduled: IntervalSet
    operating: IntervalSet
    planned_excluded: IntervalSet
    disaster_excluded: IntervalSet
    # The scheduled time of the whole period, ``S_P`` of §5, when the window stops before
    # the period's end (a month to date): operating hours and the exclusion windows known
    # now, up to the period's end. None when the window is the whole period (S_P = S).
    period_scheduled: IntervalSet | None = None

    @property
    def excluded(self) -> IntervalSet:
        return self.planned_excluded | self.disaster_excluded

    @property
    def whole_period_scheduled(self) -> IntervalSet:
        """``S_P``: the scheduled time of the whole period, the error budget's base (§5)."""
        return self.scheduled if self.period_scheduled is None else self.period_scheduled

    def clip(self, start_ms: int, end_ms: int) -> Schedule:
        """The part of the schedule inside ``[start_ms, end_ms)`` (e.g. one day)."""
        return Schedule(
            scheduled=self.scheduled.clip(start_ms, end_ms),
            operating=self.operating.clip(start_ms, end_ms),
            planned_excluded=self.planned_excluded.clip(start_ms, end_ms),
            disaster_excluded=self.disaster_excluded.clip(start_ms, end_ms),
            period_scheduled=(
                None
                if self.period_scheduled is None
                else self.period_scheduled.clip(start_ms, end_ms)
            ),
        )

    def restrict(self, span: IntervalSet) -> Schedule:
        """The part of the schedule inside ``span`` (e.g. where a service was core)."""
        return Schedule(
            scheduled=self.scheduled & span,
            operating=self.operating & span,
            planned_excluded=self.planned_excluded & span,
            disaster_excluded=self.disaster_excluded & span,
            period_scheduled=None
            if self.period_scheduled is None
            else self.period_scheduled & span,
        )


def service_schedule(
    operating: IntervalSet,
    exclusions: Sequence[ExclusionWindow],
    start_ms: int,
    end_ms: int,
    period_end_ms: int | None = None,
) -> Schedule:
    """The schedule of one service over ``[start_ms, end_ms)`` (§4).

    With ``period_end_ms`` beyond ``end_ms`` (a period still running), the schedule also
    carries the whole period's scheduled time ``[start_ms, period_end_ms)``, for the error
    budget (§5); ``operating`` must then cover the period to its end.
    """
    by_kind = union_by_kind(exclusions)
    planned, disaster = by_kind[ExclusionKind.PLANNED], by_kind[ExclusionKind.DISASTER]
    period_scheduled = None
    if period_end_ms is not None and period_end_ms > end_ms:
        period_scheduled = operating.clip(start_ms, period_end_ms) - (planned | disaster)
    operating = operating.clip(start_ms, end_ms)
    disaster_excluded = operating & disaster
    return Schedule(
        scheduled=operating - (planned | disaster),
        operating=operating,
        planned_excluded=(operating & planned) - disaster,
        disaster_excluded=disaster_excluded,
        period_scheduled=period_scheduled,
    )


def system_schedule(core_schedules: Sequence[Schedule]) -> Schedule:
    """The schedule of a system from its core services' schedules (§3.5).

    The system is scheduled when any core service is, operates when any does, and the rest
    of its operating time is excluded. That excluded time counts as disaster where a core
    service that operates then is under a disaster window, otherwise as planned: a disaster
    window over a service that is closed anyway is not what stopped the system.
    """
    scheduled = IntervalSet.union_all(schedule.scheduled for schedule in core_schedules)
    operating = IntervalSet.union_all(schedule.operating for schedule in core_schedules)
    excluded = operating - scheduled
    disaster_excluded = excluded & IntervalSet.union_all(
        schedule.disaster_excluded for schedule in core_schedules
    )
    running = any(schedule.period_scheduled is not None for schedule in core_schedules)
    return Schedule(
        scheduled=scheduled,
        operating=operating,
        planned_excluded=excluded - disaster_excluded,
        disaster_excluded=disaster_excluded,
        # The system is scheduled whenever a core service is, to the period's end too.
        period_scheduled=(
            IntervalSet.union_all(s.whole_period_scheduled for s in core_schedules)
            if running
            else None
        ),
    )


def system_timeline(core: Sequence[tuple[Timeline, Schedule]]) -> Timeline:
    """The state of a system from its core services' timelines and schedules (§3.5).

    Inside the system's scheduled time only the core services scheduled at the instant
    count: down if any of them is down, unknown if none is down and any is unknown, else
    up. So a window on one service removes that service's downtime, not the others'.
    Outside it (where no figure is taken) every core service counts the same way, so pages
    still show what happened during excluded or closed hours.
    All timelines must share one window; with no core services the window is unknown.
    """
    if not core:
        raise ValueError("a system needs at least one core service to have a timeline")
    start_ms, end_ms = core[0][0].start_ms, core[0][0].end_ms
    timelines = [timeline.clip(start_ms, end_ms) for timeline, _ in core]
    schedules = [schedule for _, schedule in core]
    window = IntervalSet.span(start_ms, end_ms)
    scheduled = IntervalSet.union_all(schedule.scheduled for schedule in schedules)

    down_when_scheduled = IntervalSet.union_all(
        timeline.down & schedule.scheduled
        for timeline, schedule in zip(timelines, schedules, strict=True)
    )
    unknown_when_scheduled = (
        IntervalSet.union_all(
            timeline.unknown & schedule.scheduled
            for timeline, schedule in zip(timelines, schedules, strict=True)
        )
        - down_when_scheduled
    )
    unscheduled = window - scheduled
    down_elsewhere = IntervalSet.union_all(timeline.down for timeline in timelines) & unscheduled
    unknown_elsewhere = (
        IntervalSet.union_all(timeline.unknown for timeline in timelines) & unscheduled
    ) - down_elsewhere
    down = down_when_scheduled | down_elsewhere
    unknown = unknown_when_scheduled | unknown_elsewhere
    return Timeline(start_ms, end_ms, window - down - unknown, down)


@dataclass(frozen=True)
class AvailabilityFigures:
    """The §5 figures of one service or system over one period. Durations in ms."""

    scheduled_ms: int
    planned_excluded_ms: int
    disaster_excluded_ms: int
    downtime_ms: int
    unknown_ms: int
    availability: Fraction | None
    coverage: Fraction | None
    target: Fraction
    met: bool | None
    error_budget_ms: Fraction | None
    error_budget_remaining_ms: Fraction | None
    insufficient_data: bool
    downtime: IntervalSet  # D as a set, to cost incidents
    policy: UnknownPolicy = UnknownPolicy.EXCLUDE


def compute_figures(
    schedule: Schedule, timeline: Timeline, target: Fraction, policy: UnknownPolicy
) -> AvailabilityFigures:
    """§5, exactly.

    ``U`` is every scheduled instant the timeline does not know as up or down, including
    scheduled time outside the timeline's window. When nothing is scheduled, or nothing
    scheduled has data (``S - U = 0``), availability, ``met`` and the budgets are ``None``
    under every policy: a month with no data is never shown as 100 % (nor as 0 %).

    The error budget is taken on the whole period's scheduled time ``S_P`` (the schedule's
    ``whole_period_scheduled``), not on the time elapsed: on the 1st of a month it is
    already the month's, and it shrinks only by downtime and unknown time. Every other
    figure stays to the evaluated window.
    """
    scheduled = schedule.scheduled
    downtime = timeline.down & scheduled
    unknown = scheduled - timeline.up - downtime
    s_ms, d_ms, u_ms = scheduled.measure(), downtime.measure(), unknown.measure()
    known_ms = s_ms - u_ms
    period_s_ms = schedule.whole_period_scheduled.measure()

    availability: Fraction | None = None
    budget: Fraction | None = None
    remaining: Fraction | None = None
    if known_ms > 0:
        # The budget's base is the availability's denominator taken over the whole period:
        # S_P - U when unknown time is left out, S_P when it counts as up or down.
        if policy is UnknownPolicy.EXCLUDE:
            denominator, good_ms = known_ms, known_ms - d_ms
            budget_base_ms = period_s_ms - u_ms
        elif policy is UnknownPolicy.UP:
            denominator, good_ms = s_ms, s_ms - d_ms
            budget_base_ms = period_s_ms
        else:
            denominator, good_ms = s_ms, known_ms - d_ms
            budget_base_ms = period_s_ms
        availability = Fraction(good_ms, denominator)
        budget = (1 - target) * budget_base_ms
        spent_ms = d_ms + u_ms if policy is UnknownPolicy.DOWN else d_ms
        remaining = budget - spent_ms
    coverage = Fraction(known_ms, s_ms) if s_ms > 0 else None
    return AvailabilityFigures(
        scheduled_ms=s_ms,
        planned_excluded_ms=schedule.planned_excluded.measure(),
        disaster_excluded_ms=schedule.disaster_excluded.measure(),
        downtime_ms=d_ms,
        unknown_ms=u_ms,
        availability=availability,
        coverage=coverage,
        target=target,
        met=None if availability is None else availability >= target,
        error_budget_ms=budget,
        error_budget_remaining_ms=remaining,
        insufficient_data=coverage is None or coverage < INSUFFICIENT_COVERAGE,
        downtime=downtime,
        policy=policy,
    )


@functools.lru_cache(maxsize=64)
def display_decimals(target: Fraction) -> int:
    """One decimal more than the target has when written in percent (§5)."""
    percent = target * 100
    decimals = 0
    # Targets come from short decimal strings; the cap only guards against e.g. 1/3.
    while percent.denominator != 1 and decimals < 6:
        percent *= 10
        decimals += 1
    return decimals + 1


def display_percent(ratio: Fraction | None, target: Fraction) -> str:
    """A ratio as a percent, truncated (never rounded up) to the target's precision + 1.

    ``99.8996 %`` at a 99.9 % target shows ``"99.89%"``, never a ``"99.90%"`` hiding a miss.
    """
    if ratio is None:
        return NO_VALUE
    decimals = display_decimals(target)
    exact = ratio if isinstance(ratio, Fraction) else Fraction(ratio)
    # Floor division of the integer parts: the floor of the exact product, no Fraction built.
    scaled = exact.numerator * 100 * 10**decimals // exact.denominator
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}%"
