"""Incidents and the recovery-time SLA (SLA-SEMANTICS §6).

An incident is a maximal down interval, scheduled or not, so the caller passes a down set
computed over a window wider than the period: an incident crossing a period boundary then
keeps its true start and end and appears in both periods, each costing its own downtime.
Two down intervals with unknown time between them are two incidents, which the normalized
``IntervalSet`` gives for free (only touching intervals merge).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sla.intervals import IntervalSet


@dataclass(frozen=True)
class Incident:
    start_ms: int
    end_ms: int | None  # None while ongoing
    duration_ms: int  # wall clock; up to the cut-off while ongoing
    downtime_ms: int  # the part inside the period's counted downtime D
    recovery_target_ms: int | None
    recovery_met: bool | None

    @property
    def ongoing(self) -> bool:
        return self.end_ms is None


def find_incidents(
    down: IntervalSet,
    counted_downtime: IntervalSet,
    period_start_ms: int,
    period_end_ms: int,
    cutoff_ms: int,
    recovery_target_ms: int | None,
) -> list[Incident]:
    """The incidents overlapping ``[period_start, min(period_end, cutoff))``, in order.

    One reaching ``cutoff_ms`` (the data cut-off, "now") is ongoing: it has no end, lasts
    ``cutoff - start`` so far, and is breached as soon as that exceeds the target (not yet
    met or breached before). ``downtime_ms`` is the incident's share of
    ``counted_downtime`` (the period's D), so the incidents' downtime sums to D.
    """
    evaluated_end = min(period_end_ms, cutoff_ms)
    counted = counted_downtime.intervals
    incidents: list[Incident] = []
    # One sweep over both sorted sets: `first` is the first counted interval that can still
    # overlap the current incident or a later one (incidents are disjoint and in order), so
    # each counted interval is passed once, not searched again for every incident.
    first = 0
    for start, end in down.overlapping(period_start_ms, evaluated_end):
        while first < len(counted) and counted[first][1] <= start:
            first += 1
        cost_ms = 0
        index = first
        while index < len(counted) and counted[index][0] < end:
            cost_ms += min(counted[index][1], end) - max(counted[index][0], start)
            index += 1
        if end >= cutoff_ms:
            duration = cutoff_ms - start
            breached = recovery_target_ms is not None and duration > recovery_target_ms
            incidents.append(
                Incident(
                    start_ms=start,
                    end_ms=None,
                    duration_ms=duration,
                    downtime_ms=cost_ms,
                    recovery_target_ms=recovery_target_ms,
                    recovery_met=False if breached else None,
                )
            )
        else:
            duration = end - start
            incidents.append(
                Incident(
                    start_ms=start,
                    end_ms=end,
                    duration_ms=duration,
                    downtime_ms=cost_ms,
                    recovery_target_ms=recovery_target_ms,
                    recovery_met=(
                        None if recovery_target_ms is None else duration <= recovery_target_ms
                    ),
                )
            )
    return incidents
