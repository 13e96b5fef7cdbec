"""Incidents and the recovery-time SLA (SLA-SEMANTICS §6)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.incidents import Incident, find_incidents
from app.sla.intervals import IntervalSet

HOUR = 3_600_000
EIGHT_HOURS = 8 * HOUR


def test_recovery_met_and_breached() -> None:
    down = IntervalSet([(0, EIGHT_HOURS), (10 * HOUR, 18 * HOUR + 1)])
    incidents = find_incidents(down, down, 0, 24 * HOUR, 48 * HOUR, EIGHT_HOURS)
    assert [(i.duration_ms, i.recovery_met) for i in incidents] == [
        (EIGHT_HOURS, True),  # exactly the target is met
        (EIGHT_HOURS + 1, False),
    ]
    assert [i.end_ms for i in incidents] == [EIGHT_HOURS, 18 * HOUR + 1]


def test_ongoing_incident_is_breached_only_once_past_the_target() -> None:
    now = 20 * HOUR
    young = find_incidents(
        IntervalSet.span(15 * HOUR, now), IntervalSet(), 0, 24 * HOUR, now, EIGHT_HOURS
    )
    assert len(young) == 1 and young[0].ongoing
    assert (young[0].end_ms, young[0].duration_ms, young[0].recovery_met) == (None, 5 * HOUR, None)
    old = find_incidents(IntervalSet.span(HOUR, now), IntervalSet(), 0, 24 * HOUR, now, EIGHT_HOURS)
    assert (old[0].duration_ms, old[0].recovery_met) == (19 * HOUR, False)


def test_no_recovery_target_means_no_verdict() -> None:
    incidents = find_incidents(
        IntervalSet.span(0, HOUR), IntervalSet(), 0, 2 * HOUR, 3 * HOUR, None
    )
    assert incidents[0].recovery_met is None and incidents[0].recovery_target_ms is None


def test_incidents_overlapping_the_period_keep_their_true_extent() -> None:
    # Down intervals before, across the start, inside, across the end and after the period.
    down = IntervalSet([(0, 10), (90, 110), (150, 160), (190, 220), (300, 310)])
    counted = down.clip(100, 200)
    incidents = find_incidents(down, counted, 100, 200, 1000, None)
    assert [(i.start_ms, i.end_ms) for i in incidents] == [(90, 110), (150, 160), (190, 220)]
    assert [i.downtime_ms for i in incidents] == [10, 10, 10]
    assert sum(i.downtime_ms for i in incidents) == counted.measure()


def test_incident_inside_an_exclusion_costs_nothing_and_unknown_splits_incidents() -> None:
    down = IntervalSet([(10, 20), (25, 40)])  # unknown between 20 and 25
    counted = IntervalSet.span(30, 40)  # [10, 30) was excluded
    incidents = find_incidents(down, counted, 0, 100, 100, None)
    assert [(i.start_ms, i.end_ms, i.downtime_ms) for i in incidents] == [(10, 20, 0), (25, 40, 10)]


def test_month_to_date_ignores_incidents_after_the_cutoff() -> None:
    down = IntervalSet([(10, 20), (60, 70)])
    incidents = find_incidents(down, down, 0, 100, 50, None)
    assert [(i.start_ms, i.end_ms) for i in incidents] == [(10, 20)]


def scanned_incidents(
    down: IntervalSet,
    counted: IntervalSet,
    period_start_ms: int,
    period_end_ms: int,
    cutoff_ms: int,
    recovery_target_ms: int | None,
) -> list[Incident]:
    """The definition of §6 read literally: each down interval, its cost by clipping D."""
    evaluated_end = min(period_end_ms, cutoff_ms)
    incidents = []
    for start, end in down:
        if end <= period_start_ms or start >= evaluated_end:
            continue
        cost = (counted & IntervalSet.span(start, end)).measure()
        ongoing = end >= cutoff_ms
        duration = (cutoff_ms if ongoing else end) - start
        if recovery_target_ms is None:
            met = None
        elif ongoing:
            met = False if duration > recovery_target_ms else None
        else:
            met = duration <= recovery_target_ms
        incidents.append(
            Incident(start, None if ongoing else end, duration, cost, recovery_target_ms, met)
        )
    return incidents


spans = st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), max_size=40)


@settings(max_examples=300)
@given(
    spans,
    spans,
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 520),
    st.none() | st.integers(0, 100),
    st.booleans(),
)
def test_the_sweep_equals_clipping_the_counted_downtime_per_incident(
    down_raw: list[tuple[int, int]],
    counted_raw: list[tuple[int, int]],
    period_start: int,
    period_end: int,
    cutoff: int,
    recovery_target: int | None,
    counted_inside_down: bool,
) -> None:
    down = IntervalSet(down_raw)
    # D is normally part of the down set (down and scheduled); arbitrary sets are checked too.
    counted = down & IntervalSet(counted_raw) if counted_inside_down else IntervalSet(counted_raw)
    arguments = (down, counted, period_start, period_end, cutoff, recovery_target)
    assert find_incidents(*arguments) == scanned_incidents(*arguments)


def test_the_sweep_costs_incidents_that_share_one_counted_interval() -> None:
    # A counted interval wider than the incidents (a caller's D need not lie inside them).
    down = IntervalSet([(10, 20), (30, 40), (50, 60)])
    counted = IntervalSet([(0, 100)])
    incidents = find_incidents(down, counted, 0, 100, 1000, None)
    assert [incident.downtime_ms for incident in incidents] == [10, 10, 10]
