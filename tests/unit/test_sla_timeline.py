"""Observations to segments and timelines (SLA-SEMANTICS §3)."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.intervals import IntervalSet
from app.sla.timeline import (
    UNBOUNDED_END,
    UNBOUNDED_START,
    CheckState,
    LabellingPiece,
    Observation,
    Segment,
    Timeline,
    amend,
    build_segments,
    check_timeline,
    extends_tail,
    label_observations,
    observations_in_range,
    recompute_range,
    segments_in_pieces,
    service_across_locations,
    service_at_location,
    splice_segments,
)

UP, DOWN, BLIP = CheckState.UP, CheckState.DOWN, CheckState.BLIP
MINUTE = 60_000


def every_minute(results: str, start_ms: int = 0) -> list[Observation]:
    """One observation a minute; ``results`` reads like a probe log: '.' ok, 'x' failed."""
    return [
        Observation(start_ms + index * MINUTE, result == ".")
        for index, result in enumerate(results)
    ]


def test_labels_runs_of_failures_by_confirm() -> None:
    observations = every_minute(".x..xx.xxx")
    assert label_observations(observations, 2) == [
        UP, BLIP, UP, UP, DOWN, DOWN, UP, DOWN, DOWN, DOWN
    ]  # fmt: skip
    assert label_observations(observations, 3)[4:6] == [BLIP, BLIP]
    assert label_observations(observations, 1)[1] == DOWN


def test_a_single_failure_is_a_blip_counted_as_up_but_visible() -> None:
    segments = build_segments(every_minute("..x.."), confirm=2, stale_after_ms=3 * MINUTE)
    assert segments == [
        Segment(0, 2 * MINUTE, UP),
        Segment(2 * MINUTE, 3 * MINUTE, BLIP),
        Segment(3 * MINUTE, 4 * MINUTE + 3 * MINUTE, UP),
    ]
    timeline = check_timeline(segments, 0, 7 * MINUTE)
    assert timeline.down == IntervalSet()
    assert timeline.up == IntervalSet.span(0, 7 * MINUTE)


def test_down_is_backdated_to_the_first_failure_and_up_from_the_first_success() -> None:
    segments = build_segments(every_minute("..xxx.."), confirm=3, stale_after_ms=3 * MINUTE)
    timeline = check_timeline(segments, 0, 7 * MINUTE)
    # The third failure confirms the run; the outage starts at the first one (minute 2).
    assert timeline.down == IntervalSet.span(2 * MINUTE, 5 * MINUTE)


def test_confirmation_ignores_gaps_between_failures() -> None:
    observations = [
        Observation(0, True),
        Observation(MINUTE, False),
        Observation(9 * MINUTE, False),
    ]
    segments = build_segments(observations, confirm=2, stale_after_ms=3 * MINUTE)
    assert segments == [
        Segment(0, MINUTE, UP),
        Segment(MINUTE, 4 * MINUTE, DOWN),
        Segment(9 * MINUTE, 12 * MINUTE, DOWN),
    ]
    # Unknown time between two down intervals separates them.
    assert len(check_timeline(segments, 0, 12 * MINUTE).down) == 2


def test_state_holds_at_most_stale_after_and_never_past_until() -> None:
    observations = [Observation(0, True), Observation(10 * MINUTE, True)]
    segments = build_segments(observations, confirm=2, stale_after_ms=3 * MINUTE)
    timeline = check_timeline(segments, 0, 20 * MINUTE)
    assert timeline.unknown == IntervalSet([(3 * MINUTE, 10 * MINUTE), (13 * MINUTE, 20 * MINUTE)])
    capped = build_segments(observations, 2, 3 * MINUTE, until_ms=11 * MINUTE)
    assert capped[-1] == Segment(10 * MINUTE, 11 * MINUTE, UP)


def test_duplicate_instants_keep_the_failure_whatever_the_order() -> None:
    first = [Observation(0, True), Observation(0, False), Observation(MINUTE, False)]
    assert build_segments(first, 2, MINUTE) == build_segments(list(reversed(first)), 2, MINUTE)
    assert build_segments(first, 2, MINUTE)[0].state == DOWN


def test_splice_trims_straddling_segments_and_merges_seams() -> None:
    existing = [Segment(0, 100, UP), Segment(100, 200, DOWN), Segment(200, 300, UP)]
    spliced = splice_segments(existing, [Segment(50, 250, UP)], 50, 250)
    assert spliced == [Segment(0, 300, UP)]
    spliced = splice_segments(existing, [], 150, 250)
    assert spliced == [Segment(0, 100, UP), Segment(100, 150, DOWN), Segment(250, 300, UP)]


def test_recompute_range_is_bounded_by_the_surrounding_successes() -> None:
    known = every_minute(".x.x.x.")
    new = [known[3]]
    assert recompute_range(known, new) == (2 * MINUTE, 4 * MINUTE)
    failures_only = every_minute("xxx")
    assert recompute_range(failures_only, [failures_only[1]]) == (UNBOUNDED_START, UNBOUNDED_END)


def _window(
    start: int, end: int, up: list[tuple[int, int]], down: list[tuple[int, int]]
) -> Timeline:
    return Timeline(start, end, IntervalSet(up), IntervalSet(down))


def test_service_at_location_down_beats_unknown_beats_up() -> None:
    first = _window(0, 100, up=[(0, 40), (60, 100)], down=[(40, 60)])
    second = _window(0, 100, up=[(0, 80)], down=[])  # unknown from 80
    combined = service_at_location([first, second])
    assert combined.down == IntervalSet([(40, 60)])
    assert combined.unknown == IntervalSet([(80, 100)])
    assert combined.up == IntervalSet([(0, 40), (60, 80)])
    assert service_at_location([], 0, 100).unknown == IntervalSet.span(0, 100)


def test_quorum_two_of_two_locations() -> None:
    tokyo = _window(0, 100, up=[(0, 20), (50, 100)], down=[(20, 50)])
    osaka = _window(0, 100, up=[(0, 30), (60, 90)], down=[(30, 60)])  # unknown from 90
    both = service_across_locations([tokyo, osaka], quorum=2, start_ms=0, end_ms=100)
    assert both.down == IntervalSet([(30, 50)])
    # One location down alone does not make the service down while the other is up.
    assert both.up == IntervalSet([(0, 30), (50, 100)])
    either = service_across_locations([tokyo, osaka], quorum=1, start_ms=0, end_ms=100)
    assert either.down == IntervalSet([(20, 60)])
    # Where one location is down and the other unknown, quorum 2 is not reached: up if any
    # location is up, else unknown.
    silent = _window(0, 100, up=[], down=[])
    assert service_across_locations([tokyo, silent], 2, 0, 100).unknown == IntervalSet([(20, 50)])


# -- arrival order ------------------------------------------------------------------------

observation_sets = st.dictionaries(st.integers(0, 400), st.booleans(), max_size=40).map(
    lambda results: [Observation(at * 10, ok) for at, ok in sorted(results.items())]
)


@settings(max_examples=200)
@given(
    observation_sets,
    st.data(),
    st.integers(1, 3),
    st.integers(1, 80),
)
def test_splice_of_arrival_batches_equals_full_rebuild(
    observations: list[Observation], data: st.DataObject, confirm: int, stale_after_ms: int
) -> None:
    batch_of = data.draw(
        st.lists(st.integers(0, 4), min_size=len(observations), max_size=len(observations))
    )
    arrival = data.draw(st.permutations(range(5)))
    known: list[Observation] = []
    segments: list[Segment] = []
    for batch in arrival:
        new = [obs for obs, owner in zip(observations, batch_of, strict=True) if owner == batch]
        if not new:
            continue
        known = sorted([*known, *new], key=lambda obs: obs.at_ms)
        range_start, range_end = recompute_range(known, new)
        rebuilt = build_segments(
            observations_in_range(known, range_start, range_end),
            confirm,
            stale_after_ms,
            until_ms=range_end,
        )
        segments = splice_segments(segments, rebuilt, range_start, range_end)
        assert segments == build_segments(known, confirm, stale_after_ms)


@settings(max_examples=200)
@given(observation_sets, st.randoms(use_true_random=False))
def test_segments_do_not_depend_on_input_order(
    observations: list[Observation], rng: random.Random
) -> None:
    shuffled = list(observations)
    rng.shuffle(shuffled)
    assert build_segments(shuffled, 2, 30) == build_segments(observations, 2, 30)


@settings(max_examples=200)
@given(observation_sets, st.integers(1, 3), st.integers(1, 80))
def test_segments_are_sorted_disjoint_and_merged(
    observations: list[Observation], confirm: int, stale_after_ms: int
) -> None:
    segments = build_segments(observations, confirm, stale_after_ms)
    for segment in segments:
        assert segment.start_ms < segment.end_ms
    for previous, following in itertools.pairwise(segments):
        assert previous.end_ms <= following.start_ms
        assert previous.end_ms < following.start_ms or previous.state != following.state
    timeline = check_timeline(segments, 0, 5000)
    assert not (timeline.up & timeline.down)
    assert timeline.up.measure() + timeline.down.measure() + timeline.unknown.measure() == 5000


# -- end-of-observation marks (§3.1) -------------------------------------------------------


def test_a_mark_ends_the_hold_and_the_time_until_the_next_observation_is_unknown() -> None:
    observations = every_minute("..")
    segments = build_segments(observations, 2, 3 * MINUTE, marks=[MINUTE + 20_000])
    # Without the mark the last result would hold until 4 min (stale_after 3 min).
    assert segments == [Segment(0, MINUTE + 20_000, UP)]
    restarted = [*observations, Observation(10 * MINUTE, True)]
    segments = build_segments(restarted, 2, 3 * MINUTE, marks=[MINUTE + 20_000])
    assert segments == [Segment(0, MINUTE + 20_000, UP), Segment(10 * MINUTE, 13 * MINUTE, UP)]


def test_a_mark_does_not_break_a_run_of_failures() -> None:
    # A failure, a clean stop, a restart, a failure: still two consecutive failures.
    observations = every_minute(".x", 0) + every_minute("x.", 10 * MINUTE)
    segments = build_segments(observations, 2, 3 * MINUTE, marks=[MINUTE + 1])
    assert segments == [
        Segment(0, MINUTE, UP),
        Segment(MINUTE, MINUTE + 1, DOWN),
        Segment(10 * MINUTE, 11 * MINUTE, DOWN),
        Segment(11 * MINUTE, 14 * MINUTE, UP),
    ]


def test_an_observation_at_the_instant_of_a_mark_holds_for_no_time() -> None:
    observations = every_minute("...")
    assert build_segments(observations, 2, 3 * MINUTE, marks=[2 * MINUTE]) == [
        Segment(0, 2 * MINUTE, UP)
    ]


mark_sets = st.sets(st.integers(0, 450), max_size=4).map(lambda marks: {m * 10 + 5 for m in marks})


@settings(max_examples=200)
@given(observation_sets, mark_sets, st.data(), st.integers(1, 3), st.integers(1, 80))
def test_amend_of_arrival_batches_equals_full_rebuild(
    observations: list[Observation],
    marks: set[int],
    data: st.DataObject,
    confirm: int,
    stale_after_ms: int,
) -> None:
    items: list[Observation | int] = [*observations, *sorted(marks)]
    batch_of = data.draw(st.lists(st.integers(0, 4), min_size=len(items), max_size=len(items)))
    arrival = data.draw(st.permutations(range(5)))
    known: list[Observation] = []
    known_marks: set[int] = set()
    segments: list[Segment] = []
    for batch in arrival:
        new = [item for item, owner in zip(items, batch_of, strict=True) if owner == batch]
        if not new:
            continue
        instants = [item if isinstance(item, int) else item.at_ms for item in new]
        known = sorted(
            [*known, *(item for item in new if isinstance(item, Observation))],
            key=lambda obs: obs.at_ms,
        )
        known_marks |= {item for item in new if isinstance(item, int)}
        change = amend(
            segments, known, known_marks, min(instants), max(instants), confirm, stale_after_ms
        )
        kept = [segment for segment in segments if segment not in change.removed]
        segments = sorted([*kept, *change.added], key=lambda segment: segment.start_ms)
        assert segments == build_segments(known, confirm, stale_after_ms, marks=known_marks)


@settings(max_examples=300)
@given(observation_sets, mark_sets, st.integers(1, 3), st.integers(1, 80), st.integers(1, 8))
def test_extends_tail_agrees_with_the_rebuild_whenever_it_applies(
    observations: list[Observation],
    marks: set[int],
    confirm: int,
    stale_after_ms: int,
    split: int,
) -> None:
    """Cut the set at some point: when the later results claim to extend the earlier
    timeline's tail, the extended timeline is exactly the rebuild of everything."""
    if len(observations) < 2:
        return
    cut = max(1, len(observations) - split)
    known, new = observations[:cut], observations[cut:]
    known_marks = {mark for mark in marks if mark <= known[-1].at_ms + stale_after_ms}
    before = build_segments(known, confirm, stale_after_ms, marks=known_marks)
    if not before:
        return
    tail = extends_tail(before[-1], known[-1], max(known_marks, default=None), new, stale_after_ms)
    if tail is None:
        return
    assert [*before[:-1], tail] == build_segments(
        observations, confirm, stale_after_ms, marks=known_marks
    )


def test_extends_tail_refuses_a_state_change_a_gap_and_a_stopped_runner() -> None:
    known = every_minute("...")
    tail = build_segments(known, 2, 3 * MINUTE)[-1]
    later = every_minute("..", 3 * MINUTE)
    assert extends_tail(tail, known[-1], None, later, 3 * MINUTE) == Segment(0, 7 * MINUTE, UP)
    assert extends_tail(tail, known[-1], None, every_minute(".x", 3 * MINUTE), 3 * MINUTE) is None
    assert extends_tail(tail, known[-1], None, every_minute(".", 6 * MINUTE), 3 * MINUTE) is None
    assert extends_tail(tail, known[-1], 2 * MINUTE, later, 3 * MINUTE) is None
    failing = every_minute(".xx")
    down = build_segments(failing, 2, 3 * MINUTE)[-1]
    assert extends_tail(down, failing[-1], None, every_minute("x", 3 * MINUTE), 3 * MINUTE) == (
        Segment(MINUTE, 6 * MINUTE, DOWN)
    )
    pending = every_minute("..x")
    blip = build_segments(pending, 2, 3 * MINUTE)[-1]
    assert extends_tail(blip, pending[-1], None, every_minute("x", 3 * MINUTE), 3 * MINUTE) is None


segment_lists = st.lists(
    st.tuples(st.integers(0, 100), st.integers(1, 30), st.sampled_from([UP, DOWN, BLIP])),
    max_size=8,
).map(lambda raw: [Segment(start, start + length, state) for start, length, state in raw])


@given(segment_lists, st.integers(0, 60), st.integers(0, 140), st.integers(0, 140))
def test_one_timeline_combines_as_two_copies_of_it_do(
    segments: list[Segment], start_ms: int, other_start_ms: int, other_end_ms: int
) -> None:
    """A single check (or location) takes a shortcut; two copies of it take the general
    path, and must give the same timeline, over its own window and over another one."""
    timeline = check_timeline(segments, start_ms, start_ms + 80)
    windows = [(None, None), (other_start_ms, other_end_ms)]
    for window_start, window_end in windows:
        assert service_at_location([timeline], window_start, window_end) == service_at_location(
            [timeline, timeline], window_start, window_end
        )
    for window_start, window_end in [(start_ms, start_ms + 80), (other_start_ms, other_end_ms)]:
        for quorum in (0, 1, 2):
            # Two copies down together: a quorum of q of one is a quorum of 2q of two.
            assert service_across_locations(
                [timeline], quorum, window_start, window_end
            ) == service_across_locations(
                [timeline, timeline], 2 * max(quorum, 1), window_start, window_end
            )


def test_segments_in_pieces_label_each_part_with_its_own_parameters() -> None:
    """confirm 2 until 1 000, then 4 (SLA-SEMANTICS §8): the same run of three failures
    is down before the change and a blip after it; a hold crossing the change is cut."""
    oks = [True, False, False, False, True, True, False, False, False, True]
    ats = [0, 100, 200, 300, 400, 900, 1100, 1200, 1300, 1400]
    observations = [Observation(at, ok) for at, ok in zip(ats, oks, strict=True)]
    stored = build_segments(observations, 4, 600)
    pieces = [LabellingPiece(-(2**62), 1000, 2, 600), LabellingPiece(1000, 2**62, 4, 600)]
    assert segments_in_pieces(stored, observations, [], pieces, (4, 600)) == [
        Segment(0, 100, CheckState.UP),
        Segment(100, 400, CheckState.DOWN),
        Segment(400, 1100, CheckState.UP),
        Segment(1100, 1400, CheckState.BLIP),
        Segment(1400, 2000, CheckState.UP),
    ]
    # Only the part of a piece: nothing outside it.
    assert segments_in_pieces(stored, observations, [], pieces[1:], (4, 600)) == [
        Segment(1000, 1100, CheckState.UP),
        Segment(1100, 1400, CheckState.BLIP),
        Segment(1400, 2000, CheckState.UP),
    ]
