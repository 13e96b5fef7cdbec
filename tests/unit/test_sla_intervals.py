"""IntervalSet against a brute-force model: a set of integer instants."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.intervals import IntervalSet

raw_intervals = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8)


def points(intervals: list[tuple[int, int]]) -> set[int]:
    return {instant for start, end in intervals for instant in range(start, end)}


def as_points(interval_set: IntervalSet) -> set[int]:
    return points(list(interval_set))


def assert_normalized(interval_set: IntervalSet) -> None:
    pieces = list(interval_set)
    for start, end in pieces:
        assert start < end
    for (_, previous_end), (next_start, _) in itertools.pairwise(pieces):
        # Disjoint and not even touching: touching intervals must have been merged.
        assert previous_end < next_start


def test_normalizes_sorts_merges_touching_and_drops_empty() -> None:
    interval_set = IntervalSet([(10, 20), (0, 5), (5, 7), (30, 30), (15, 25), (40, 35)])
    assert interval_set.intervals == ((0, 7), (10, 25))
    assert interval_set.measure() == 22
    assert len(interval_set) == 2
    assert not IntervalSet()
    assert IntervalSet.span(5, 5) == IntervalSet()


def test_clip_and_difference_at_edges() -> None:
    interval_set = IntervalSet([(0, 10), (20, 30)])
    assert interval_set.clip(5, 25) == IntervalSet([(5, 10), (20, 25)])
    assert interval_set - IntervalSet([(0, 10)]) == IntervalSet([(20, 30)])
    assert interval_set - IntervalSet([(-5, 40)]) == IntervalSet()
    assert interval_set - IntervalSet([(9, 21)]) == IntervalSet([(0, 9), (21, 30)])


def test_at_least_treats_touching_intervals_as_not_overlapping() -> None:
    first = IntervalSet([(0, 10)])
    second = IntervalSet([(10, 20)])
    assert IntervalSet.at_least([first, second], 2) == IntervalSet()
    assert IntervalSet.at_least([first, second], 1) == IntervalSet([(0, 20)])
    assert IntervalSet.at_least([first, second], 3) == IntervalSet()


@settings(max_examples=200)
@given(raw_intervals, raw_intervals)
def test_set_algebra_matches_points(
    left_raw: list[tuple[int, int]], right_raw: list[tuple[int, int]]
) -> None:
    left, right = IntervalSet(left_raw), IntervalSet(right_raw)
    for result, expected in (
        (left | right, points(left_raw) | points(right_raw)),
        (left & right, points(left_raw) & points(right_raw)),
        (left - right, points(left_raw) - points(right_raw)),
        (left.clip(10, 40), points(left_raw) & set(range(10, 40))),
    ):
        assert_normalized(result)
        assert as_points(result) == expected
        assert result.measure() == len(expected)
    # Same instants, same value: normalization makes equality structural.
    assert IntervalSet(left_raw) == IntervalSet(list(reversed(left_raw)))


@settings(max_examples=200)
@given(st.lists(raw_intervals, max_size=5), st.integers(1, 6))
def test_at_least_and_union_all_match_points(
    sets_raw: list[list[tuple[int, int]]], quorum: int
) -> None:
    sets = [IntervalSet(raw) for raw in sets_raw]
    counted = {
        instant
        for instant in range(0, 61)
        if sum(instant in points(raw) for raw in sets_raw) >= quorum
    }
    result = IntervalSet.at_least(sets, quorum)
    assert_normalized(result)
    assert as_points(result) == counted
    union = IntervalSet.union_all(sets)
    assert_normalized(union)
    assert as_points(union) == set().union(*(points(raw) for raw in sets_raw))


# The lookups are binary searches; these compare them with a scan of every interval, on
# sets large enough that the search has several levels, and windows that start or end
# before, inside, between and after the intervals (edges included).
many_intervals = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=60)
instants = st.integers(-5, 405)


@settings(max_examples=300)
@given(many_intervals, instants, instants)
def test_window_lookups_equal_a_scan_of_every_interval(
    raw: list[tuple[int, int]], start: int, end: int
) -> None:
    interval_set = IntervalSet(raw)
    scanned = [(s, e) for s, e in interval_set if e > start and s < end]
    assert interval_set.overlapping(start, end) == tuple(scanned)
    clipped = interval_set.clip(start, end)
    assert_normalized(clipped)
    assert clipped == interval_set & IntervalSet.span(start, end)
    assert interval_set.measure_within(start, end) == clipped.measure()


@settings(max_examples=300)
@given(many_intervals, instants)
def test_contains_equals_a_scan_of_every_interval(raw: list[tuple[int, int]], instant: int) -> None:
    interval_set = IntervalSet(raw)
    assert interval_set.contains(instant) == any(s <= instant < e for s, e in interval_set)
    assert interval_set.contains(instant) == (instant in points(raw))


def test_lookups_at_the_edges_of_half_open_intervals() -> None:
    interval_set = IntervalSet([(10, 20), (30, 40)])
    assert [interval_set.contains(t) for t in (9, 10, 19, 20, 29, 30, 39, 40)] == [
        False, True, True, False, False, True, True, False,
    ]  # fmt: skip
    assert interval_set.clip(20, 30) == IntervalSet()
    assert interval_set.clip(19, 31) == IntervalSet([(19, 20), (30, 31)])
    assert interval_set.clip(12, 15) == IntervalSet([(12, 15)])
    assert interval_set.overlapping(20, 30) == ()
    assert interval_set.overlapping(15, 35) == ((10, 20), (30, 40))
    assert IntervalSet().clip(0, 10) == IntervalSet()
    assert not IntervalSet().contains(0)


@settings(max_examples=300)
@given(many_intervals, raw_intervals.map(lambda raw: [(4 * s, 4 * e) for s, e in raw]))
def test_set_algebra_of_a_large_and_a_small_set_matches_points(
    large_raw: list[tuple[int, int]], small_raw: list[tuple[int, int]]
) -> None:
    # The operations walk the smaller operand and search the larger: both orders, both ways.
    large, small = IntervalSet(large_raw), IntervalSet(small_raw)
    for result, expected in (
        (large & small, points(large_raw) & points(small_raw)),
        (small & large, points(large_raw) & points(small_raw)),
        (large - small, points(large_raw) - points(small_raw)),
        (small - large, points(small_raw) - points(large_raw)),
        (large | small, points(large_raw) | points(small_raw)),
    ):
        assert_normalized(result)
        assert as_points(result) == expected
