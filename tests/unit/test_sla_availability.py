"""Scheduled time, exclusions and the §5 figures."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.availability import (
    Schedule,
    UnknownPolicy,
    compute_figures,
    display_percent,
    service_schedule,
    system_schedule,
    system_timeline,
)
from app.sla.exclusions import ExclusionKind, ExclusionWindow
from app.sla.intervals import IntervalSet
from app.sla.timeline import Observation, Timeline, build_segments, check_timeline

PLANNED, DISASTER = ExclusionKind.PLANNED, ExclusionKind.DISASTER
THREE_NINES = Fraction(Decimal("0.999"))
FOUR_NINES = Fraction(Decimal("0.9999"))
DAY = 86_400_000


def whole(start: int, end: int) -> Schedule:
    return service_schedule(IntervalSet.span(start, end), [], start, end)


def timeline(
    start: int,
    end: int,
    down: Sequence[tuple[int, int]] = (),
    unknown: Sequence[tuple[int, int]] = (),
) -> Timeline:
    """A timeline of ``[start, end)``: up except where said down or unknown."""
    down_set, unknown_set = IntervalSet(down), IntervalSet(unknown)
    return Timeline(start, end, IntervalSet.span(start, end) - down_set - unknown_set, down_set)


@pytest.mark.parametrize(
    ("target", "days", "budget_ms"),
    [
        (THREE_NINES, 30, 43.2 * 60_000),
        (THREE_NINES, 31, 44.64 * 60_000),
        (FOUR_NINES, 30, 259.2 * 1000),
        (FOUR_NINES, 31, 267.84 * 1000),
    ],
)
def test_worked_budgets(target: Fraction, days: int, budget_ms: float) -> None:
    figures = compute_figures(
        whole(0, days * DAY), timeline(0, days * DAY), target, UnknownPolicy.EXCLUDE
    )
    # The listed budgets are whole milliseconds, so the float literal is exact enough to
    # round; the engine's value itself must be an exact integer-valued Fraction.
    assert figures.error_budget_ms == Fraction(round(budget_ms))
    assert figures.availability == 1 and figures.met is True


def test_three_unknown_policies() -> None:
    schedule = whole(0, 1000)
    observed = timeline(0, 1000, down=[(100, 110)], unknown=[(500, 600)])
    expected = {
        UnknownPolicy.EXCLUDE: (Fraction(890, 900), Fraction(900), 10),
        UnknownPolicy.UP: (Fraction(990, 1000), Fraction(1000), 10),
        UnknownPolicy.DOWN: (Fraction(890, 1000), Fraction(1000), 110),
    }
    for policy, (availability, denominator, spent_ms) in expected.items():
        figures = compute_figures(schedule, observed, Fraction(1, 2), policy)
        assert figures.availability == availability, policy
        assert figures.error_budget_ms == denominator / 2
        assert figures.error_budget_remaining_ms == denominator / 2 - spent_ms
        assert (figures.scheduled_ms, figures.downtime_ms, figures.unknown_ms) == (1000, 10, 100)
        assert figures.coverage == Fraction(9, 10)
        assert figures.insufficient_data


def test_budget_of_a_running_period_under_each_unknown_policy() -> None:
    # The window is [0, 1000) of a period [0, 4000): the budget's base is the whole period,
    # less unknown time where unknown time is left out; everything else stays to the window.
    schedule = service_schedule(IntervalSet.span(0, 4000), [], 0, 1000, period_end_ms=4000)
    assert schedule.scheduled == IntervalSet.span(0, 1000)
    assert schedule.whole_period_scheduled == IntervalSet.span(0, 4000)
    observed = timeline(0, 1000, down=[(100, 110)], unknown=[(500, 600)])
    expected = {
        UnknownPolicy.EXCLUDE: (Fraction(890, 900), Fraction(3900), 10),
        UnknownPolicy.UP: (Fraction(990, 1000), Fraction(4000), 10),
        UnknownPolicy.DOWN: (Fraction(890, 1000), Fraction(4000), 110),
    }
    for policy, (availability, base, spent_ms) in expected.items():
        figures = compute_figures(schedule, observed, Fraction(1, 2), policy)
        assert figures.availability == availability, policy
        assert figures.error_budget_ms == base / 2
        assert figures.error_budget_remaining_ms == base / 2 - spent_ms
        assert (figures.scheduled_ms, figures.downtime_ms, figures.unknown_ms) == (1000, 10, 100)
    # An ended period, or a window up to the period's end, has S_P = S.
    assert service_schedule(IntervalSet.span(0, 4000), [], 0, 4000, 4000).period_scheduled is None


def test_whole_period_schedule_removes_windows_still_ahead() -> None:
    windows = [ExclusionWindow(2000, 2500, PLANNED), ExclusionWindow(3000, 3100, DISASTER)]
    schedule = service_schedule(IntervalSet.span(0, 4000), windows, 0, 1000, period_end_ms=4000)
    assert schedule.planned_excluded == IntervalSet() == schedule.disaster_excluded
    assert schedule.whole_period_scheduled == IntervalSet([(0, 2000), (2500, 3000), (3100, 4000)])
    assert schedule.clip(0, 500).whole_period_scheduled == IntervalSet.span(0, 500)
    assert schedule.clip(900, 2100).whole_period_scheduled == IntervalSet.span(900, 2000)


@pytest.mark.parametrize("policy", list(UnknownPolicy))
def test_no_data_is_never_100_percent(policy: UnknownPolicy) -> None:
    figures = compute_figures(
        whole(0, 30 * DAY), Timeline.all_unknown(0, 30 * DAY), THREE_NINES, policy
    )
    assert figures.availability is None and figures.met is None
    assert figures.error_budget_ms is None
    assert figures.coverage == 0 and figures.insufficient_data
    assert display_percent(figures.availability, THREE_NINES) == "—"


def test_nothing_scheduled_has_no_availability() -> None:
    nothing = service_schedule(IntervalSet(), [], 0, 1000)
    figures = compute_figures(nothing, timeline(0, 1000), THREE_NINES, UnknownPolicy.EXCLUDE)
    assert figures.availability is None and figures.coverage is None
    assert figures.insufficient_data


def test_met_is_exact_and_coverage_threshold_is_99_percent() -> None:
    schedule = whole(0, 100_000)
    exactly = compute_figures(
        schedule, timeline(0, 100_000, down=[(0, 100)]), THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert exactly.availability == THREE_NINES and exactly.met is True
    assert exactly.error_budget_remaining_ms == 0
    missed = compute_figures(
        schedule, timeline(0, 100_000, down=[(0, 101)]), THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert missed.met is False and missed.error_budget_remaining_ms == -1
    edge = compute_figures(
        schedule, timeline(0, 100_000, unknown=[(0, 1000)]), THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert edge.coverage == Fraction(99, 100) and not edge.insufficient_data
    below = compute_figures(
        schedule, timeline(0, 100_000, unknown=[(0, 1001)]), THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert below.insufficient_data


def test_display_truncates_to_one_decimal_more_than_the_target() -> None:
    assert display_percent(Fraction(998_996, 1_000_000), THREE_NINES) == "99.89%"
    assert display_percent(Fraction(999_999, 1_000_000), THREE_NINES) == "99.99%"
    assert display_percent(Fraction(1), THREE_NINES) == "100.00%"
    assert display_percent(Fraction(0), THREE_NINES) == "0.00%"
    assert display_percent(Fraction(99_993, 100_000), FOUR_NINES) == "99.993%"
    assert display_percent(Fraction(9_999_899, 10_000_000), FOUR_NINES) == "99.998%"
    assert display_percent(Fraction(98_765, 100_000), Fraction(99, 100)) == "98.7%"
    assert display_percent(Fraction(2, 3), THREE_NINES) == "66.66%"
    assert display_percent(None, THREE_NINES) == "—"


def test_overlapping_planned_and_disaster_windows_count_once_as_disaster() -> None:
    windows = [
        ExclusionWindow(10, 40, PLANNED),
        ExclusionWindow(20, 35, PLANNED),  # overlaps the other planned window
        ExclusionWindow(30, 50, DISASTER),
    ]
    schedule = service_schedule(IntervalSet.span(0, 100), windows, 0, 100)
    assert schedule.planned_excluded == IntervalSet.span(10, 30)
    assert schedule.disaster_excluded == IntervalSet.span(30, 50)
    assert schedule.scheduled == IntervalSet([(0, 10), (50, 100)])
    figures = compute_figures(schedule, timeline(0, 100), THREE_NINES, UnknownPolicy.EXCLUDE)
    assert (figures.planned_excluded_ms, figures.disaster_excluded_ms) == (20, 20)
    assert figures.scheduled_ms == 60


def test_exclusions_count_only_inside_operating_hours() -> None:
    operating = IntervalSet([(0, 20), (60, 100)])
    schedule = service_schedule(operating, [ExclusionWindow(10, 70, PLANNED)], 0, 100)
    assert schedule.planned_excluded.measure() == 20
    assert schedule.scheduled == IntervalSet([(0, 10), (70, 100)])


def test_planned_window_overrun_counts() -> None:
    schedule = service_schedule(
        IntervalSet.span(0, 100), [ExclusionWindow(10, 30, PLANNED)], 0, 100
    )
    figures = compute_figures(
        schedule, timeline(0, 100, down=[(20, 40)]), THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert figures.downtime_ms == 10
    assert figures.downtime == IntervalSet.span(30, 40)


def test_system_aggregation_window_on_one_service_removes_only_its_downtime() -> None:
    # Two core services over [0, 100); service A has its own planned window [0, 50).
    schedule_a = service_schedule(
        IntervalSet.span(0, 100), [ExclusionWindow(0, 50, PLANNED)], 0, 100
    )
    schedule_b = whole(0, 100)
    timeline_a = timeline(0, 100, down=[(10, 30)])  # inside A's window: excused
    timeline_b = timeline(0, 100, down=[(20, 25), (60, 70)])  # never excused
    system = system_schedule([schedule_a, schedule_b])
    state = system_timeline([(timeline_a, schedule_a), (timeline_b, schedule_b)])
    figures = compute_figures(system, state, THREE_NINES, UnknownPolicy.EXCLUDE)
    assert figures.scheduled_ms == 100
    assert figures.downtime == IntervalSet([(20, 25), (60, 70)])
    assert figures.planned_excluded_ms == 0

    # A system-wide window (on every service) excludes the system itself.
    system_wide = [ExclusionWindow(0, 50, DISASTER)]
    schedules = [service_schedule(IntervalSet.span(0, 100), system_wide, 0, 100)] * 2
    system = system_schedule(schedules)
    state = system_timeline([(timeline_a, schedules[0]), (timeline_b, schedules[1])])
    figures = compute_figures(system, state, THREE_NINES, UnknownPolicy.EXCLUDE)
    assert (figures.scheduled_ms, figures.disaster_excluded_ms, figures.downtime_ms) == (50, 50, 10)


def test_system_unknown_only_from_scheduled_services() -> None:
    schedule_a = service_schedule(
        IntervalSet.span(0, 100), [ExclusionWindow(0, 50, PLANNED)], 0, 100
    )
    schedule_b = whole(0, 100)
    silent_a = Timeline.all_unknown(0, 100)
    state = system_timeline([(silent_a, schedule_a), (timeline(0, 100), schedule_b)])
    figures = compute_figures(
        system_schedule([schedule_a, schedule_b]), state, THREE_NINES, UnknownPolicy.EXCLUDE
    )
    assert figures.unknown_ms == 50


# -- properties ---------------------------------------------------------------------------

spans = st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=6)
windows = st.lists(
    st.builds(
        ExclusionWindow,
        st.integers(-50, 1000),
        st.integers(0, 1050),
        st.sampled_from(list(ExclusionKind)),
    ),
    max_size=4,
)


@settings(max_examples=200)
@given(spans, spans, spans, windows, st.sampled_from(list(UnknownPolicy)))
def test_scheduled_time_splits_exactly_into_up_down_unknown(
    down: list[tuple[int, int]],
    unknown: list[tuple[int, int]],
    operating: list[tuple[int, int]],
    exclusions: list[ExclusionWindow],
    policy: UnknownPolicy,
) -> None:
    schedule = service_schedule(IntervalSet(operating), exclusions, 100, 900)
    observed = timeline(100, 900, down=down, unknown=unknown)
    figures = compute_figures(schedule, observed, THREE_NINES, policy)
    up_ms = (observed.up & schedule.scheduled).measure()
    assert up_ms + figures.downtime_ms + figures.unknown_ms == figures.scheduled_ms
    assert (
        figures.scheduled_ms + figures.planned_excluded_ms + figures.disaster_excluded_ms
        == schedule.operating.measure()
        == IntervalSet(operating).clip(100, 900).measure()
    )
    if figures.availability is not None:
        assert 0 <= figures.availability <= 1


observation_sets = st.dictionaries(st.integers(0, 100), st.booleans(), min_size=1, max_size=30)


def _availability(
    results: dict[int, bool], policy: UnknownPolicy
) -> tuple[Fraction | None, Fraction | None]:
    observations = [Observation(at * 10, ok) for at, ok in results.items()]
    segments = build_segments(observations, confirm=2, stale_after_ms=25)
    figures = compute_figures(
        whole(0, 1100), check_timeline(segments, 0, 1100), THREE_NINES, policy
    )
    return figures.availability, figures.coverage


@settings(max_examples=200)
@given(observation_sets, st.data(), st.sampled_from(list(UnknownPolicy)))
def test_turning_a_success_into_a_failure_never_raises_availability(
    results: dict[int, bool], data: st.DataObject, policy: UnknownPolicy
) -> None:
    successes = [at for at, ok in results.items() if ok]
    if not successes:
        return
    flipped_at = data.draw(st.sampled_from(successes))
    before, _ = _availability(results, policy)
    after, _ = _availability({**results, flipped_at: False}, policy)
    assert before is not None and after is not None
    assert after <= before


@settings(max_examples=200)
@given(observation_sets, st.integers(0, 100), st.sampled_from(list(UnknownPolicy)))
def test_adding_a_failure_never_raises_availability(
    results: dict[int, bool], new_at: int, policy: UnknownPolicy
) -> None:
    if new_at in results:
        return
    before, coverage_before = _availability(results, policy)
    after, coverage_after = _availability({**results, new_at: False}, policy)
    assert before is not None and after is not None
    if policy is UnknownPolicy.UP or coverage_after == coverage_before:
        assert after <= before
    # Otherwise the new failure also covered unknown time; see the test below.


def test_a_lone_failure_in_a_gap_turns_unknown_into_up_time() -> None:
    # §3.2 counts an unconfirmed failure (a blip) as up, so a lone failure that fills a gap
    # adds up time: under the exclude policy availability rises. Pinned here so a change to
    # the contract shows up as a failing test, not as a silent shift in the numbers.
    results = {0: True, 1: False, 2: False, 3: True, 50: True}
    before, _ = _availability(results, UnknownPolicy.EXCLUDE)
    after, _ = _availability({**results, 30: False}, UnknownPolicy.EXCLUDE)
    assert before is not None and after is not None and after > before
