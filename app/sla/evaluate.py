"""The one entry point every adapter calls: segments, calendars and windows in, figures out.

The API, pages, reports and ``/metrics`` all call ``evaluate`` so they can never disagree.

Two windows are involved:

* the **evaluated window** ``[period start, min(period end, cutoff))``: every figure of §5;
* the **data window** ``[data_start, min(data_end, cutoff))``, which the caller loads wider
  than the period, widened here to contain the evaluated window: incidents (§6) are found
  on it, so one crossing a period boundary keeps its true start and end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from zoneinfo import ZoneInfo

from app.sla.availability import (
    AvailabilityFigures,
    Schedule,
    UnknownPolicy,
    compute_figures,
    service_schedule,
    system_schedule,
    system_timeline,
)
from app.sla.calendar import OperatingHours, operating_intervals
from app.sla.exclusions import ExclusionWindow
from app.sla.incidents import Incident, find_incidents
from app.sla.intervals import IntervalSet
from app.sla.periods import Period
from app.sla.timeline import (
    CheckState,
    Segment,
    Timeline,
    check_timeline,
    service_across_locations,
    service_at_location,
)

SegmentKey = tuple[str, str]  # (check_key, location)


@dataclass(frozen=True)
class StructurePiece:
    """A service's structure over ``[start_ms, end_ms)``: one catalog version's (§8).

    Which checks feed the service, its operating hours, its quorum and whether it is core
    are those of the version in force at each instant; targets are not here, they are the
    period end's (the service's own fields).
    """

    start_ms: int
    end_ms: int
    core: bool
    quorum: int
    hours: OperatingHours
    check_keys: tuple[str, ...]


@dataclass(frozen=True)
class ServiceInput:
    system_id: str
    service_id: str
    target: Fraction
    core: bool
    quorum: int
    hours: OperatingHours
    # None inherits the system's recovery target (§6).
    recovery_target_ms: int | None
    policy: UnknownPolicy
    check_keys: tuple[str, ...]  # every check of the service
    # (check_key, location) -> merged segments covering at least the data window.
    segments: Mapping[SegmentKey, Sequence[Segment]]
    # The windows that apply to this service, system-wide ones included, known now to the
    # period's end: those still ahead in a running period shape its error budget (§5).
    exclusions: Sequence[ExclusionWindow]
    # None: the structure above holds at every instant (one catalog version). Otherwise the
    # service exists only inside these pieces (sorted, disjoint), each with its own
    # structure: time outside them is not scheduled, neither up, down nor unknown (§8).
    # ``check_keys`` and ``segments`` then cover the checks of every piece.
    pieces: Sequence[StructurePiece] | None = None


@dataclass(frozen=True)
class SystemInput:
    system_id: str
    target: Fraction
    recovery_target_ms: int | None
    policy: UnknownPolicy
    services: Sequence[ServiceInput]


@dataclass(frozen=True)
class Evaluation:
    system_id: str
    service_id: str | None  # None for the system itself
    figures: AvailabilityFigures
    incidents: list[Incident]
    timeline: Timeline  # over the evaluated window
    schedule: Schedule
    # Blip intervals inside the evaluated window, unioned over every check and location
    # (for a system: over its core services), each as one BLIP segment.
    blips: list[Segment]


@dataclass(frozen=True)
class _ServiceResult:
    service: ServiceInput
    data_timeline: Timeline
    schedule: Schedule
    blips: IntervalSet
    evaluation: Evaluation
    # Where the service counts for its system (§3.5): None when it is core whenever it
    # exists (or never, per ``service.core``); else the instants it was core (§8).
    core_span: IntervalSet | None = None

    @property
    def is_core(self) -> bool:
        return self.service.core if self.core_span is None else bool(self.core_span)


def service_timeline(service: ServiceInput, start_ms: int, end_ms: int) -> Timeline:
    """§3.3 and §3.4 for one service over ``[start_ms, end_ms)``.

    Locations are those present in the segments mapping; a check with no segments at a
    location is unknown there, so a silent check never reads as up.
    """
    locations = sorted({location for _, location in service.segments})
    location_timelines = [
        service_at_location(
            [
                check_timeline(service.segments.get((check_key, location), ()), start_ms, end_ms)
                for check_key in service.check_keys
            ],
            start_ms,
            end_ms,
        )
        for location in locations
    ]
    return service_across_locations(location_timelines, service.quorum, start_ms, end_ms)


def _blips(service: ServiceInput, start_ms: int, end_ms: int) -> IntervalSet:
    return IntervalSet(
        (segment.start_ms, segment.end_ms)
        for segments in service.segments.values()
        for segment in segments
        if segment.state is CheckState.BLIP
    ).clip(start_ms, end_ms)


def _as_blip_segments(blips: IntervalSet) -> list[Segment]:
    return [Segment(start, end, CheckState.BLIP) for start, end in blips]


def _piece_input(service: ServiceInput, piece: StructurePiece) -> ServiceInput:
    """The service as one piece's structure has it: only that piece's checks feed it."""
    keys = set(piece.check_keys)
    return replace(
        service,
        check_keys=piece.check_keys,
        quorum=piece.quorum,
        segments={key: value for key, value in service.segments.items() if key[0] in keys},
        pieces=None,
    )


def _piecewise(
    service: ServiceInput, window: tuple[int, int], data_window: tuple[int, int]
) -> tuple[Timeline, IntervalSet]:
    """The data timeline and blips of a service whose structure changes inside the data
    window: each piece's timeline with that piece's checks and quorum, side by side.

    Time outside every piece is neither up nor down, and is never scheduled.
    """
    ups, downs, blips = [], [], []
    for piece in service.pieces or ():
        start_ms = max(piece.start_ms, data_window[0])
        end_ms = min(piece.end_ms, data_window[1])
        if start_ms >= end_ms:
            continue
        part = _piece_input(service, piece)
        timeline = service_timeline(part, start_ms, end_ms)
        ups.append(timeline.up)
        downs.append(timeline.down)
        blips.append(_blips(part, max(start_ms, window[0]), min(end_ms, window[1])))
    data_timeline = Timeline(
        data_window[0], data_window[1], IntervalSet.union_all(ups), IntervalSet.union_all(downs)
    )
    return data_timeline, IntervalSet.union_all(blips)


def _piecewise_operating(
    service: ServiceInput, start_ms: int, end_ms: int, zone: ZoneInfo
) -> IntervalSet:
    """Operating hours of each piece inside that piece: the union is the service's."""
    parts = []
    for piece in service.pieces or ():
        piece_start, piece_end = max(piece.start_ms, start_ms), min(piece.end_ms, end_ms)
        if piece_start < piece_end:
            parts.append(operating_intervals(piece.hours, piece_start, piece_end, zone))
    return IntervalSet.union_all(parts)


def _evaluate_service(
    service: ServiceInput,
    system: SystemInput,
    period: Period,
    cutoff_ms: int,
    window: tuple[int, int],
    data_window: tuple[int, int],
) -> _ServiceResult:
    start_ms, end_ms = window
    # Operating hours to the period's end even while it runs: the error budget is taken on
    # the whole period's scheduled time (§5).
    period_end_ms = max(end_ms, period.end_ms)
    zone = ZoneInfo(period.timezone)
    core_span: IntervalSet | None = None
    if service.pieces is None:
        data_timeline = service_timeline(service, *data_window)
        operating = operating_intervals(service.hours, start_ms, period_end_ms, zone)
        blips = _blips(service, start_ms, end_ms)
    else:
        data_timeline, blips = _piecewise(service, window, data_window)
        operating = _piecewise_operating(service, start_ms, period_end_ms, zone)
        core_span = IntervalSet(
            (piece.start_ms, piece.end_ms) for piece in service.pieces if piece.core
        )
    timeline = data_timeline.clip(start_ms, end_ms)
    schedule = service_schedule(operating, service.exclusions, start_ms, end_ms, period_end_ms)
    figures = compute_figures(schedule, timeline, service.target, service.policy)
    recovery_target_ms = (
        service.recovery_target_ms
        if service.recovery_target_ms is not None
        else system.recovery_target_ms
    )
    incidents = find_incidents(
        data_timeline.down,
        figures.downtime,
        period.start_ms,
        period.end_ms,
        cutoff_ms,
        recovery_target_ms,
    )
    evaluation = Evaluation(
        system_id=system.system_id,
        service_id=service.service_id,
        figures=figures,
        incidents=incidents,
        timeline=timeline,
        schedule=schedule,
        blips=_as_blip_segments(blips),
    )
    return _ServiceResult(service, data_timeline, schedule, blips, evaluation, core_span)


def _core_part(result: _ServiceResult) -> _ServiceResult:
    """The part of a service that counts for its system: where it was core (§3.5, §8)."""
    span = result.core_span
    if span is None:
        return result
    timeline, data = result.evaluation.timeline, result.data_timeline
    return replace(
        result,
        data_timeline=Timeline(data.start_ms, data.end_ms, data.up & span, data.down & span),
        schedule=result.schedule.restrict(span),
        blips=result.blips & span,
        evaluation=replace(
            result.evaluation,
            timeline=Timeline(
                timeline.start_ms, timeline.end_ms, timeline.up & span, timeline.down & span
            ),
        ),
    )


def _evaluate_system(
    system: SystemInput,
    results: Sequence[_ServiceResult],
    period: Period,
    cutoff_ms: int,
    window: tuple[int, int],
) -> Evaluation:
    start_ms, end_ms = window
    core = [_core_part(result) for result in results if result.is_core]
    if core:
        schedule = system_schedule([result.schedule for result in core])
        timeline = system_timeline(
            [(result.evaluation.timeline, result.schedule) for result in core]
        )
    else:
        # A system with no core service is never scheduled (§3.5), so it has no figures.
        empty = IntervalSet()
        schedule = Schedule(empty, empty, empty, empty)
        timeline = Timeline.all_unknown(start_ms, end_ms)
    figures = compute_figures(schedule, timeline, system.target, system.policy)
    # §6: a system incident is any core service down, scheduled or not.
    any_core_down = IntervalSet.union_all(result.data_timeline.down for result in core)
    incidents = find_incidents(
        any_core_down,
        figures.downtime,
        period.start_ms,
        period.end_ms,
        cutoff_ms,
        system.recovery_target_ms,
    )
    blips = IntervalSet.union_all(result.blips for result in core)
    return Evaluation(
        system_id=system.system_id,
        service_id=None,
        figures=figures,
        incidents=incidents,
        timeline=timeline,
        schedule=schedule,
        blips=_as_blip_segments(blips),
    )


def evaluate(
    systems: Sequence[SystemInput],
    period: Period,
    cutoff_ms: int,
    data_start_ms: int,
    data_end_ms: int,
) -> list[Evaluation]:
    """Figures, incidents, timelines and blips for each service, then its system.

    Figures cover ``[period start, min(period end, cutoff))``; incidents are found over
    ``[data_start_ms, min(data_end_ms, cutoff))`` (widened to contain the period) and are
    ongoing when they reach ``cutoff_ms``. For incidents to get their true end, the data
    window should reach the cut-off or well past the period end.
    """
    window = (period.start_ms, period.evaluated_end_ms(cutoff_ms))
    data_window = (
        min(data_start_ms, window[0]),
        max(min(data_end_ms, cutoff_ms), window[1]),
    )
    evaluations: list[Evaluation] = []
    for system in systems:
        results = [
            _evaluate_service(service, system, period, cutoff_ms, window, data_window)
            for service in system.services
        ]
        evaluations.extend(result.evaluation for result in results)
        evaluations.append(_evaluate_system(system, results, period, cutoff_ms, window))
    return evaluations
