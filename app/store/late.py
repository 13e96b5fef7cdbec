"""Late observations in closed months leave an audit entry (SLA-SEMANTICS §9).

A closed month's figures change when observations of it arrive afterwards (an agent's
spool delivered after an outage, a ``kadou import`` of another system's history). The
change is allowed, and it must be explained: each storing call (an API batch, an import,
a batch of the live runner) that stores observations inside a closed month records one
audit entry saying which checks and locations, how many observations, their time range
and who sent them. The amendment that follows names those entries as its reasons.

Cheap on the live path: a month is closed only after it ends, so observations of the
current month never touch a closed month. ``store_observations`` lists only what is older
than the current month's start (one comparison per series when results extend their
timelines), and the closed months are read from the database only when such observations
were stored. Reading them then, rather than caching them, keeps replicas right when another
process closed a month a moment ago.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.sla import periods
from app.store import audit
from app.store.ingest import IngestResult, ObservationIn, TimelineParams, store_observations
from app.store.models import AuditEntry, MonthVersion
from app.store.types import to_ms

ENTITY = "observations"
ACTION = "late"


class LateAudit:
    """Where the current month starts in the reporting time zone, cached until it ends."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        # One tuple, replaced whole: threads of the API read it without a lock.
        self._month: tuple[int, int] = (0, 0)

    def current_month_start_ms(self, now: datetime | None = None) -> int:
        now_ms = to_ms(now or datetime.now(UTC))
        start_ms, end_ms = self._month
        if not start_ms <= now_ms < end_ms:
            local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(self.zone)
            current = periods.month(local.year, local.month, self.timezone)
            start_ms, end_ms = current.start_ms, current.end_ms
            self._month = (start_ms, end_ms)
        return start_ms

    def month_label(self, instant: datetime) -> str:
        local = instant.astimezone(self.zone)
        return f"{local.year:04d}-{local.month:02d}"


def closed_months(session: Session) -> set[str]:
    return set(session.execute(select(MonthVersion.month).distinct()).scalars())


class _Tally:
    __slots__ = ("checks", "count", "first", "last", "locations")

    def __init__(self, at: datetime) -> None:
        self.count = 0
        self.first = self.last = at
        self.checks: set[str] = set()
        self.locations: set[str] = set()

    def add(self, item: ObservationIn, at: datetime) -> None:
        self.count += 1
        self.first = min(self.first, at)
        self.last = max(self.last, at)
        self.checks.add(item.check)
        self.locations.add(item.location)

    def document(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first_observed_at": self.first.isoformat(),
            "last_observed_at": self.last.isoformat(),
            "checks": sorted(self.checks),
            "locations": sorted(self.locations),
        }


class LateObservations:
    """The late observations of one storing call, tallied per closed month.

    A call may store in several batches (``kadou import`` feeds a file in batches inside
    one transaction): :meth:`add` each batch's ``IngestResult.late``, then :meth:`record`
    once. Only counts, ranges and names are kept, so a large import stays small in memory.
    """

    def __init__(self, guard: LateAudit) -> None:
        self.guard = guard
        self._closed: set[str] | None = None
        self.months: dict[str, _Tally] = {}

    def add(self, session: Session, late: Sequence[ObservationIn]) -> None:
        if not late:
            return
        if self._closed is None:
            self._closed = closed_months(session)
        if not self._closed:
            return
        for item in late:
            label = self.guard.month_label(item.observed_at)
            if label in self._closed:
                at = item.observed_at.astimezone(UTC)
                tally = self.months.get(label)
                if tally is None:
                    tally = self.months[label] = _Tally(at)
                tally.add(item, at)

    def record(
        self, session: Session, *, actor: str, at: datetime | None = None
    ) -> AuditEntry | None:
        """One audit entry for everything added that lies in closed months; None if nothing."""
        if not self.months:
            return None
        tallies = list(self.months.values())
        after: dict[str, Any] = {
            "count": sum(tally.count for tally in tallies),
            "first_observed_at": min(tally.first for tally in tallies).isoformat(),
            "last_observed_at": max(tally.last for tally in tallies).isoformat(),
            "checks": sorted(set().union(*(tally.checks for tally in tallies))),
            "locations": sorted(set().union(*(tally.locations for tally in tallies))),
            # Per month, so an amendment names only the entries of its own month and says
            # how many of that month's observations came late.
            "months": {label: self.months[label].document() for label in sorted(self.months)},
        }
        return audit.record(
            session,
            actor=actor,
            action=ACTION,
            entity=ENTITY,
            entity_id=",".join(sorted(self.months))[:64],
            before=None,
            after=after,
            reason=None,
            at=at,
        )


def store_audited(
    session: Session,
    observations: Sequence[ObservationIn],
    params: Mapping[str, TimelineParams],
    guard: LateAudit,
    *,
    actor: str,
    on_stored: Callable[[ObservationIn], None] | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """``store_observations`` plus the audit entry of late data, in the caller's transaction."""
    result = store_observations(
        session,
        observations,
        params,
        on_stored=on_stored,
        late_before_ms=guard.current_month_start_ms(now),
    )
    late = LateObservations(guard)
    late.add(session, result.late)
    late.record(session, actor=actor)
    return result
