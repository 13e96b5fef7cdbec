"""From observations to up/down/unknown timelines (SLA-SEMANTICS §3).

Per (check, location), observations become labelled *segments*:

* every observation gets a label: ``UP`` for a success; for a failure ``DOWN`` if it belongs
  to a run of at least ``confirm`` consecutive failures (consecutive in ``observed_at``
  order, whatever the gaps), else ``BLIP`` (counts as up, kept visible). Labelling the whole
  run down is the backdating of §3.2: the outage starts at the first failure;
* each label holds from its observation until the next observation, but at most
  ``stale_after``, and never past an *end-of-observation mark* (§3.1: the instant a runner
  that stopped cleanly stopped); time no observation covers is unknown and has no segment.

A mark ends the hold of the observations at or before it (back to the previous mark). It
is not a result, so it takes no part in labelling: a run of failures continues across a
runner's restart (consecutive in ``observed_at`` order, whatever the gaps), only the time
between the mark and the next observation is unknown.

Late and out-of-order arrivals (§3 "a function of the set, not of arrival order")
-------------------------------------------------------------------------------------
The store keeps, per (check, location), the merged segments and patches them when
observations arrive instead of rebuilding history. For a batch of new observations whose
``observed_at`` lie in ``[first_new, last_new]``:

* ``A`` = ``at_ms`` of the last *success* strictly before ``first_new`` (unbounded if none);
* ``B`` = ``at_ms`` of the first *success* strictly after ``last_new`` (unbounded if none);
* rebuild ``build_segments(observations and marks with A <= at_ms <= B, until_ms=B)`` and
  ``splice_segments(existing, rebuilt, A, B)``.

New marks count as new instants for ``first_new`` / ``last_new``: a mark only shortens the
hold of the last observation at or before it, which lies in ``[A, B]``.

Why nothing outside ``[A, B)`` can change: a success is always labelled ``UP`` and ends
every failure run, so the labels of observations up to ``A`` and from ``B`` on do not
depend on anything between them; the segment of an observation before ``A`` ends at the
latest at ``A`` (its next observation is at or before ``A``, and no new observation lies
before ``A``); the segment of ``B`` and everything after it is unchanged. ``recompute_range``
computes ``(A, B)``; ``UNBOUNDED_START`` / ``UNBOUNDED_END`` stand for "unbounded".
:func:`amend` does the whole step for the store: given the observations and marks it loaded
(a superset of ``[A, B]``) and the segments there, it returns the segments to remove and
to add. A full rebuild is the same step with everything loaded.

The live fast path (a new result that only extends the last segment) is
:func:`extends_tail`: it is the special case of :func:`amend` where ``A`` is the last
observation, so the store may skip loading anything.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.sla.intervals import IntervalSet

# Sentinels for an unbounded range edge; far outside any real epoch-millisecond instant.
UNBOUNDED_START = -(2**62)
UNBOUNDED_END = 2**62


class CheckState(StrEnum):
    UP = "up"
    DOWN = "down"
    # A failure in a run shorter than `confirm`: counts as up, but stays visible.
    BLIP = "blip"


@dataclass(frozen=True, slots=True)
class Observation:
    at_ms: int
    ok: bool


@dataclass(frozen=True, slots=True)
class Segment:
    start_ms: int
    end_ms: int
    state: CheckState

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def _distinct_sorted(observations: Iterable[Observation]) -> list[Observation]:
    """Sort by ``at_ms`` keeping one observation per instant.

    Two results for one instant should not happen (the store keys observations by instant);
    if they do, the failure wins, so the outcome does not depend on which arrived first and
    errs on the side of reporting the outage.
    """
    by_instant: dict[int, Observation] = {}
    for observation in observations:
        kept = by_instant.get(observation.at_ms)
        if kept is None or (kept.ok and not observation.ok):
            by_instant[observation.at_ms] = observation
    return [by_instant[at_ms] for at_ms in sorted(by_instant)]


def label_observations(observations: Sequence[Observation], confirm: int) -> list[CheckState]:
    """Label observations already sorted by ``at_ms`` (distinct instants), per §3.2."""
    labels: list[CheckState] = []
    index = 0
    while index < len(observations):
        if observations[index].ok:
            labels.append(CheckState.UP)
            index += 1
            continue
        run_end = index
        while run_end < len(observations) and not observations[run_end].ok:
            run_end += 1
        # The whole run is down once it reaches `confirm`: the outage is backdated to the
        # run's first failure.
        state = CheckState.DOWN if run_end - index >= confirm else CheckState.BLIP
        labels.extend([state] * (run_end - index))
        index = run_end
    return labels


def merge_segments(segments: Iterable[Segment]) -> list[Segment]:
    """Fuse segments (sorted, non-overlapping) that touch and share a state."""
    merged: list[Segment] = []
    for segment in segments:
        if segment.start_ms >= segment.end_ms:
            continue
        if merged and merged[-1].end_ms == segment.start_ms and merged[-1].state == segment.state:
            merged[-1] = Segment(merged[-1].start_ms, segment.end_ms, segment.state)
        else:
            merged.append(segment)
    return merged


def build_segments(
    observations: Sequence[Observation],
    confirm: int,
    stale_after_ms: int,
    until_ms: int | None = None,
    marks: Iterable[int] = (),
) -> list[Segment]:
    """The merged segments of one (check, location) from its observations (§3.1, §3.2).

    ``marks`` are the instants of end-of-observation marks, in any order.
    """
    ordered = _distinct_sorted(observations)
    labels = label_observations(ordered, confirm)
    ends = sorted(set(marks))
    raw: list[Segment] = []
    for index, (observation, state) in enumerate(zip(ordered, labels, strict=True)):
        end = observation.at_ms + stale_after_ms
        if index + 1 < len(ordered):
            end = min(end, ordered[index + 1].at_ms)
        if until_ms is not None:
            end = min(end, until_ms)
        # The first mark at or after the observation: a runner stopped then, and an
        # observation taken at the very instant it stopped holds for no time at all.
        mark = bisect.bisect_left(ends, observation.at_ms)
        if mark < len(ends):
            end = min(end, ends[mark])
        raw.append(Segment(observation.at_ms, end, state))
    return merge_segments(raw)


def splice_segments(
    existing: Sequence[Segment],
    replacement: Sequence[Segment],
    start_ms: int,
    end_ms: int,
) -> list[Segment]:
    """``existing`` with ``[start_ms, end_ms)`` replaced by ``replacement``.

    Segments straddling the range edges are trimmed to the outside part; the replacement is
    clipped to the range; touching same-state segments are merged across the seams.
    """
    before: list[Segment] = []
    after: list[Segment] = []
    for segment in existing:
        if segment.start_ms < start_ms:
            before.append(Segment(segment.start_ms, min(segment.end_ms, start_ms), segment.state))
        if segment.end_ms > end_ms:
            after.append(Segment(max(segment.start_ms, end_ms), segment.end_ms, segment.state))
    inside = [
        Segment(max(segment.start_ms, start_ms), min(segment.end_ms, end_ms), segment.state)
        for segment in sorted(replacement, key=lambda segment: segment.start_ms)
    ]
    return merge_segments([*before, *inside, *after])


def recompute_range(known: Sequence[Observation], new: Sequence[Observation]) -> tuple[int, int]:
    """The range ``[A, B)`` to rebuild after ``new`` observations join ``known`` ones.

    ``known`` must be sorted by ``at_ms``; ``new`` may be in any order and may already be
    part of ``known``. Unbounded edges are ``UNBOUNDED_START`` / ``UNBOUNDED_END``.
    """
    if not new:
        raise ValueError("recompute_range needs at least one new observation")
    first_new = min(observation.at_ms for observation in new)
    last_new = max(observation.at_ms for observation in new)
    return affected_range(known, first_new, last_new)


def affected_range(known: Sequence[Observation], first_new: int, last_new: int) -> tuple[int, int]:
    """``[A, B)`` for new instants (observations or marks) in ``[first_new, last_new]``.

    ``A`` and ``B`` are the *boundaries* around them: successes, whose label and holding
    depend on nothing before them. ``known`` is sorted by ``at_ms``.
    """
    instants = [observation.at_ms for observation in known]
    range_start = UNBOUNDED_START
    for index in range(bisect.bisect_left(instants, first_new) - 1, -1, -1):
        if known[index].ok:
            range_start = known[index].at_ms
            break
    range_end = UNBOUNDED_END
    for index in range(bisect.bisect_right(instants, last_new), len(known)):
        if known[index].ok:
            range_end = known[index].at_ms
            break
    return range_start, range_end


@dataclass(frozen=True, slots=True)
class Amendment:
    """What changes in a stored timeline: segments to remove, then segments to add."""

    removed: list[Segment]
    added: list[Segment]


def amend(
    existing: Sequence[Segment],
    loaded: Sequence[Observation],
    marks: Iterable[int],
    first_new_ms: int,
    last_new_ms: int,
    confirm: int,
    stale_after_ms: int,
) -> Amendment:
    """The change to a timeline once new observations or marks in ``[first_new_ms,
    last_new_ms]`` are stored.

    ``loaded`` holds (at least) every stored observation of the affected range ``[A, B]``
    (see the module docstring), the new ones included, and ``marks`` every mark there;
    ``existing`` every stored segment that touches ``[A, B]``. A full rebuild passes
    everything with ``first_new_ms = UNBOUNDED_START`` and ``last_new_ms = UNBOUNDED_END``.
    """
    ordered = _distinct_sorted(loaded)
    start, end = affected_range(ordered, first_new_ms, last_new_ms)
    rebuilt = build_segments(
        observations_in_range(ordered, start, end),
        confirm,
        stale_after_ms,
        until_ms=None if end == UNBOUNDED_END else end,
        marks=[mark for mark in marks if start <= mark <= end],
    )
    spliced = splice_segments(existing, rebuilt, start, end)
    before = set(existing)
    after = set(spliced)
    return Amendment(
        removed=[segment for segment in existing if segment not in after],
        added=[segment for segment in spliced if segment not in before],
    )


def extends_tail(
    tail: Segment,
    last: Observation,
    last_mark_ms: int | None,
    new: Sequence[Observation],
    stale_after_ms: int,
) -> Segment | None:
    """The new last segment if ``new`` observations only extend it, else None.

    ``tail`` is the last segment of a timeline, ``last`` its last observation and
    ``last_mark_ms`` its last mark (None if none); ``new`` is sorted by ``at_ms``. They
    extend the tail when each is newer than the last and within ``stale_after`` of the one
    before (no gap), no mark ends the last hold, and they keep its state: successes after a
    success (up), failures after a confirmed failure (down: the run already reached
    ``confirm``). A failure after a success or a blip may start or confirm an outage, a
    success after a failure ends one: those go through :func:`amend`. The result is what
    :func:`amend` would give, without reading any observation.
    """
    if not new or (last_mark_ms is not None and last_mark_ms >= last.at_ms):
        return None
    if tail.end_ms != last.at_ms + stale_after_ms or not tail.start_ms <= last.at_ms:
        return None
    if tail.state is CheckState.UP and last.ok:
        keeps_state = all(observation.ok for observation in new)
    elif tail.state is CheckState.DOWN and not last.ok:
        keeps_state = not any(observation.ok for observation in new)
    else:
        return None
    if not keeps_state:
        return None
    previous = last.at_ms
    for observation in new:
        if not previous < observation.at_ms <= previous + stale_after_ms:
            return None
        previous = observation.at_ms
    return Segment(tail.start_ms, previous + stale_after_ms, tail.state)


def observations_in_range(
    observations: Sequence[Observation], start_ms: int, end_ms: int
) -> list[Observation]:
    """Observations with ``start_ms <= at_ms <= end_ms`` (both ends included, as the
    rebuild needs the successes at ``A`` and ``B``)."""
    return [obs for obs in observations if start_ms <= obs.at_ms <= end_ms]


@dataclass(frozen=True, slots=True)
class LabellingPiece:
    """The ``confirm`` and ``stale_after`` of one check over ``[start_ms, end_ms)`` (§8)."""

    start_ms: int
    end_ms: int
    confirm: int
    stale_after_ms: int


def segments_in_pieces(
    stored: Sequence[Segment],
    observations: Sequence[Observation],
    marks: Iterable[int],
    pieces: Sequence[LabellingPiece],
    stored_params: tuple[int, int] | None,
) -> list[Segment]:
    """One (check, location)'s segments when its ``confirm``/``stale_after`` changed (§8).

    Each piece's part is labelled and held with that piece's parameters: the ``stored``
    segments (built with ``stored_params``; None: no stored segments) where those are the
    piece's, else the observations labelled again with the piece's. A failure run or a hold that crosses a
    change is cut there, each side judged by its own parameters. Time outside every piece
    has no segment.
    """
    marks = sorted(set(marks))
    built: dict[tuple[int, int], Sequence[Segment]] = (
        {} if stored_params is None else {stored_params: stored}
    )
    parts: list[Segment] = []
    for piece in pieces:
        params = (piece.confirm, piece.stale_after_ms)
        if params not in built:
            built[params] = build_segments(observations, *params, marks=marks)
        for segment in built[params]:
            start, end = max(segment.start_ms, piece.start_ms), min(segment.end_ms, piece.end_ms)
            if start < end:
                parts.append(Segment(start, end, segment.state))
    parts.sort(key=lambda segment: segment.start_ms)
    return merge_segments(parts)


# -- timelines ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """The state of something over the window ``[start_ms, end_ms)``.

    ``up`` and ``down`` are disjoint and inside the window; the rest is unknown.
    """

    start_ms: int
    end_ms: int
    up: IntervalSet
    down: IntervalSet

    @property
    def window(self) -> IntervalSet:
        return IntervalSet.span(self.start_ms, self.end_ms)

    @property
    def window_bounds(self) -> tuple[int, int]:
        return self.start_ms, self.end_ms

    @property
    def unknown(self) -> IntervalSet:
        return self.window - self.up - self.down

    def clip(self, start_ms: int, end_ms: int) -> Timeline:
        """The same timeline seen through a narrower (or equal) window."""
        start = max(start_ms, self.start_ms)
        end = max(start, min(end_ms, self.end_ms))
        if start == self.start_ms and end == self.end_ms:
            return self  # immutable, and most clips while evaluating change nothing
        return Timeline(start, end, self.up.clip(start, end), self.down.clip(start, end))

    @classmethod
    def all_unknown(cls, start_ms: int, end_ms: int) -> Timeline:
        return cls(start_ms, max(start_ms, end_ms), IntervalSet(), IntervalSet())


def check_timeline(segments: Sequence[Segment], start_ms: int, end_ms: int) -> Timeline:
    """One check at one location over a window; a blip counts as up (§3.2)."""
    end_ms = max(start_ms, end_ms)
    up_pieces: list[tuple[int, int]] = []
    down_pieces: list[tuple[int, int]] = []
    for segment in segments:
        pieces = down_pieces if segment.state is CheckState.DOWN else up_pieces
        pieces.append((segment.start_ms, segment.end_ms))
    up = IntervalSet(up_pieces).clip(start_ms, end_ms)
    down = IntervalSet(down_pieces).clip(start_ms, end_ms)
    # Segments never overlap when built by build_segments; if a caller passes overlapping
    # ones, down wins so the two sets stay disjoint.
    return Timeline(start_ms, end_ms, up - down, down)


def _common_window(
    timelines: Sequence[Timeline], start_ms: int | None, end_ms: int | None
) -> tuple[int, int]:
    if start_ms is not None and end_ms is not None:
        return start_ms, max(start_ms, end_ms)
    if not timelines:
        raise ValueError("no timelines to combine: pass start_ms and end_ms for the window")
    return timelines[0].start_ms, timelines[0].end_ms


def combine_any_down(
    timelines: Sequence[Timeline], start_ms: int | None = None, end_ms: int | None = None
) -> Timeline:
    """Down if any is down; unknown if none is down and any is unknown; else up.

    Nothing to combine means nothing is known: the whole window is unknown.
    """
    start, end = _common_window(timelines, start_ms, end_ms)
    clipped = [timeline.clip(start, end) for timeline in timelines]
    if not clipped:
        return Timeline.all_unknown(start, end)
    if len(clipped) == 1 and clipped[0].window_bounds == (start, end):
        # One timeline over the same window combines to itself (up and down are disjoint
        # and inside the window): the case of every service with a single check.
        return clipped[0]
    window = IntervalSet.span(start, end)
    down = IntervalSet.union_all(timeline.down for timeline in clipped)
    unknown = IntervalSet.union_all(timeline.unknown for timeline in clipped) - down
    return Timeline(start, end, window - down - unknown, down)


def service_at_location(
    check_timelines: Sequence[Timeline], start_ms: int | None = None, end_ms: int | None = None
) -> Timeline:
    """§3.3: a service at one location, from its checks there.

    The window is the first timeline's unless ``start_ms``/``end_ms`` are given (they must
    be when there are no checks: then the whole window is unknown).
    """
    return combine_any_down(check_timelines, start_ms, end_ms)


def service_across_locations(
    location_timelines: Sequence[Timeline], quorum: int, start_ms: int, end_ms: int
) -> Timeline:
    """§3.4: down where at least ``quorum`` locations are down; otherwise up where at least
    one location is up; otherwise unknown. With no locations the window is unknown."""
    end_ms = max(start_ms, end_ms)
    clipped = [timeline.clip(start_ms, end_ms) for timeline in location_timelines]
    if len(clipped) == 1 and quorum <= 1 and clipped[0].window_bounds == (start_ms, end_ms):
        # One location with a quorum of one decides alone: the result is its timeline.
        return clipped[0]
    down = IntervalSet.at_least([timeline.down for timeline in clipped], max(quorum, 1))
    up = IntervalSet.union_all(timeline.up for timeline in clipped) - down
    return Timeline(start_ms, end_ms, up, down)
