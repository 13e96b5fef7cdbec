"""Exclusion windows: planned stops (計画停止) and stops caused by disasters (SLA-SEMANTICS §4).

The engine sees only the windows that apply to one service (its own and its system's);
scoping, authorship and the audit log belong to the store. Overlapping windows are unioned
per kind before use, so nothing is subtracted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.sla.intervals import IntervalSet


class ExclusionKind(StrEnum):
    PLANNED = "planned"
    DISASTER = "disaster"


@dataclass(frozen=True, slots=True)
class ExclusionWindow:
    start_ms: int
    end_ms: int
    kind: ExclusionKind


def union_by_kind(windows: Iterable[ExclusionWindow]) -> dict[ExclusionKind, IntervalSet]:
    """The union of the windows of each kind; every kind is present (possibly empty)."""
    spans: dict[ExclusionKind, list[tuple[int, int]]] = {kind: [] for kind in ExclusionKind}
    for window in windows:
        spans[ExclusionKind(window.kind)].append((window.start_ms, window.end_ms))
    return {kind: IntervalSet(intervals) for kind, intervals in spans.items()}
