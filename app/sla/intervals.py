"""Sets of instants as normalized half-open integer intervals.

Every quantity in SLA-SEMANTICS §5 is the measure of a set of instants (scheduled, down,
unknown, excluded ...), so the engine works on sets, not on running counters: a set can be
intersected with the schedule, split by exclusion kind and summed exactly, in any order.

An ``IntervalSet`` is immutable and always normalized: its intervals are sorted, disjoint,
non-empty, half-open ``[start, end)`` in integer milliseconds, and touching intervals are
merged, so two sets covering the same instants compare equal. All set operations are
linear merges of the two sorted interval lists, and every lookup of one instant or one
window (``contains``, ``clip``, ``measure_within``) is a binary search: because the
intervals are disjoint and sorted by start, their ends are sorted too, so a report that
looks up each of n incidents or days costs O(n log n), never O(n²).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence

Interval = tuple[int, int]


def _normalize(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    ordered = sorted((start, end) for start, end in intervals if start < end)
    return _merge_sorted(ordered)


def _merge_sorted(ordered: Iterable[Interval]) -> tuple[Interval, ...]:
    """Merge intervals already sorted by start; overlapping and touching ones fuse."""
    merged: list[Interval] = []
    for start, end in ordered:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


# Below this ratio of sizes, walking both sets in step is cheaper than a binary search per
# interval of the smaller one (measured with bench/core_scaling.py).
_LOPSIDED_RATIO = 8


def _lopsided(left: int, right: int) -> bool:
    return min(left, right) * _LOPSIDED_RATIO < max(left, right)


class IntervalSet:
    """An immutable set of instants: sorted, disjoint, non-empty ``[start, end)`` intervals."""

    __slots__ = ("_intervals",)

    _intervals: tuple[Interval, ...]

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        self._intervals = _normalize(intervals)

    @classmethod
    def _trusted(cls, intervals: tuple[Interval, ...]) -> IntervalSet:
        # Skips the sort for results the operations below already produce normalized.
        instance = cls.__new__(cls)
        instance._intervals = intervals
        return instance

    @classmethod
    def span(cls, start: int, end: int) -> IntervalSet:
        """The single interval ``[start, end)`` (empty when ``end <= start``)."""
        return cls._trusted(((start, end),) if start < end else ())

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return self._intervals

    # -- set algebra -------------------------------------------------------------------

    def __or__(self, other: IntervalSet) -> IntervalSet:
        left, right = self._intervals, other._intervals
        if not left:
            return other
        if not right:
            return self
        merged: list[Interval] = []
        i = j = 0
        while i < len(left) or j < len(right):
            if j >= len(right) or (i < len(left) and left[i][0] <= right[j][0]):
                start, end = left[i]
                i += 1
            else:
                start, end = right[j]
                j += 1
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return IntervalSet._trusted(tuple(merged))

    def __and__(self, other: IntervalSet) -> IntervalSet:
        left, right = self._intervals, other._intervals
        if not left or not right or left[-1][1] <= right[0][0] or right[-1][1] <= left[0][0]:
            return _EMPTY
        # One interval covering the other set whole (a window, a schedule with no holes):
        # the common case when evaluating, answered without a walk.
        if len(right) == 1 and right[0][0] <= left[0][0] and left[-1][1] <= right[0][1]:
            return self
        if len(left) == 1 and left[0][0] <= right[0][0] and right[-1][1] <= left[0][1]:
            return other
        if _lopsided(len(left), len(right)):
            # A day or a schedule with few holes against thousands of outages: look up each
            # interval of the small set in the large one, copying what lies inside as a slice.
            small, large = (self, other) if len(left) < len(right) else (other, self)
            return IntervalSet._trusted(large._within(small._intervals))
        common: list[Interval] = []
        i = j = 0
        while i < len(left) and j < len(right):
            start = max(left[i][0], right[j][0])
            end = min(left[i][1], right[j][1])
            if start < end:
                common.append((start, end))
            # Advance whichever interval finishes first; the other may still overlap more.
            if left[i][1] <= right[j][1]:
                i += 1
            else:
                j += 1
        # Pieces of two normalized sets never touch each other, so no merge is needed.
        return IntervalSet._trusted(tuple(common))

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        left, right = self._intervals, other._intervals
        if not right or not left or left[-1][1] <= right[0][0] or right[-1][1] <= left[0][0]:
            return self
        remaining: list[Interval] = []
        if _lopsided(len(self._intervals), len(right)):
            if len(self._intervals) > len(right):
                # What lies in the few gaps of `other`, each looked up and copied as a slice.
                gaps = other._complement(self._intervals[0][0], self._intervals[-1][1])
                return IntervalSet._trusted(self._within(gaps._intervals))
            # Few intervals minus many: cut each by the removed intervals it overlaps.
            for start, end in self._intervals:
                inside = other.overlapping(start, end)
                starts = (start, *(removed_end for _, removed_end in inside))
                ends = (*(removed_start for removed_start, _ in inside), end)
                remaining.extend(
                    piece for piece in zip(starts, ends, strict=True) if piece[0] < piece[1]
                )
            return IntervalSet._trusted(tuple(remaining))
        j = 0
        for start, end in self._intervals:
            cursor = start
            while j < len(right) and right[j][1] <= cursor:
                j += 1
            k = j
            while k < len(right) and right[k][0] < end:
                if right[k][0] > cursor:
                    remaining.append((cursor, right[k][0]))
                cursor = max(cursor, right[k][1])
                if right[k][1] > end:
                    break
                k += 1
            if cursor < end:
                remaining.append((cursor, end))
            j = k
        return IntervalSet._trusted(tuple(remaining))

    def _complement(self, lower: int, upper: int) -> IntervalSet:
        """The instants not in the set, over its hull widened to ``[lower, upper)``."""
        intervals = self._intervals
        starts = (min(lower, intervals[0][0]), *(end for _, end in intervals))
        ends = (*(start for start, _ in intervals), max(upper, intervals[-1][1]))
        return IntervalSet._trusted(
            tuple(gap for gap in zip(starts, ends, strict=True) if gap[0] < gap[1])
        )

    def _within(self, windows: Iterable[Interval]) -> tuple[Interval, ...]:
        """The parts of this set inside each window; ``windows`` sorted and disjoint."""
        pieces: list[Interval] = []
        intervals = self._intervals
        for start, end in windows:
            lo, hi = self._overlapping(start, end)
            if lo >= hi:
                continue
            first = len(pieces)
            pieces.extend(intervals[lo:hi])
            # Only the first and the last interval can stick out of the window.
            pieces[first] = (max(pieces[first][0], start), pieces[first][1])
            pieces[-1] = (pieces[-1][0], min(pieces[-1][1], end))
        return tuple(pieces)

    # -- lookups (binary search) -------------------------------------------------------

    def _index_at_or_before(self, instant: int) -> int:
        """The index of the last interval starting at or before ``instant`` (-1 if none)."""
        # (instant, inf) sorts after every (instant, end), so ties on the start count.
        return bisect_right(self._intervals, (instant, math.inf)) - 1

    def _overlapping(self, start: int, end: int) -> tuple[int, int]:
        """``[lo, hi)``: the indices of the intervals that overlap ``[start, end)``."""
        intervals = self._intervals
        lo = self._index_at_or_before(start)
        if lo < 0 or intervals[lo][1] <= start:
            lo += 1
        # The first interval starting at or after `end` no longer overlaps.
        hi = bisect_left(intervals, (end, -math.inf))
        return lo, hi

    def overlapping(self, start: int, end: int) -> tuple[Interval, ...]:
        """The intervals (whole, not cut) that end after ``start`` and begin before ``end``."""
        lo, hi = self._overlapping(start, end)
        return self._intervals[lo:hi]

    def clip(self, start: int, end: int) -> IntervalSet:
        """The part of the set inside ``[start, end)``."""
        intervals = self._intervals
        if start >= end or not intervals or intervals[-1][1] <= start or end <= intervals[0][0]:
            return _EMPTY
        if start <= intervals[0][0] and intervals[-1][1] <= end:
            return self  # already inside the window: most clips of an evaluation
        return IntervalSet._trusted(self._within(((start, end),)))

    def measure(self) -> int:
        """Total length in milliseconds."""
        return sum(end - start for start, end in self._intervals)

    def measure_within(self, start: int, end: int) -> int:
        """The length of the part inside ``[start, end)``: ``clip(start, end).measure()``."""
        if start >= end:
            return 0
        return sum(min(e, end) - max(s, start) for s, e in self.overlapping(start, end))

    def contains(self, instant: int) -> bool:
        index = self._index_at_or_before(instant)
        return index >= 0 and instant < self._intervals[index][1]

    @property
    def lower(self) -> int | None:
        return self._intervals[0][0] if self._intervals else None

    @property
    def upper(self) -> int | None:
        return self._intervals[-1][1] if self._intervals else None

    @staticmethod
    def union_all(sets: Iterable[IntervalSet]) -> IntervalSet:
        """The union of many sets, in one sort rather than pairwise merges."""
        non_empty = [interval_set for interval_set in sets if interval_set._intervals]
        if len(non_empty) <= 1:
            return non_empty[0] if non_empty else _EMPTY
        pieces = [piece for interval_set in non_empty for piece in interval_set._intervals]
        pieces.sort()
        return IntervalSet._trusted(_merge_sorted(pieces))

    @staticmethod
    def at_least(sets: Sequence[IntervalSet], n: int) -> IntervalSet:
        """Instants covered by at least ``n`` of the sets (a sweep line over their edges).

        ``n <= 0`` has no meaning for a finite window and is refused; ``n`` larger than the
        number of sets gives the empty set.
        """
        if n <= 0:
            raise ValueError(f"at_least needs n >= 1, got {n}")
        if n > len(sets):
            return IntervalSet()
        if n == 1:
            return IntervalSet.union_all(sets)
        # Ends sort before starts at the same instant, so touching intervals of different
        # sets never count as overlapping there (half-open intervals).
        edges: list[tuple[int, int]] = []
        for interval_set in sets:
            for start, end in interval_set._intervals:
                edges.append((start, 1))
                edges.append((end, -1))
        edges.sort()
        covered: list[Interval] = []
        depth = 0
        opened_at = 0
        for instant, delta in edges:
            before = depth
            depth += delta
            if before < n <= depth:
                opened_at = instant
            elif depth < n <= before and opened_at < instant:
                covered.append((opened_at, instant))
        return IntervalSet._trusted(_merge_sorted(covered))

    # -- container protocol ------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self._intervals)

    def __iter__(self) -> Iterator[Interval]:
        return iter(self._intervals)

    def __len__(self) -> int:
        return len(self._intervals)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash(self._intervals)

    def __repr__(self) -> str:
        return f"IntervalSet({list(self._intervals)!r})"


# Sets are immutable, so every empty result can be this one object.
_EMPTY = IntervalSet()
