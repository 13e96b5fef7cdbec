"""The embedded probe runner's sink: observations straight into the store.

It satisfies ``probes.sink.ObservationSink`` structurally (``async write(observations,
heartbeat=None)``), so the store does not import the probes package. Each batch is one
transaction, run in a worker thread so the event loop keeps probing while the database
writes; it returns only after the commit, and storing is idempotent on (check, location,
observed_at), which is what the runner's at-least-once writer expects.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from app.store.db import transaction
from app.store.ingest import (
    HeartbeatIn,
    IngestResult,
    ObservationIn,
    TimelineParams,
    record_heartbeat,
    store_observations,
)
from app.store.late import LateAudit, LateObservations
from app.store.models import clip_detail

log = logging.getLogger(__name__)

# Results not stored, by reason, since the process started: read by /metrics
# (``kadou_results_dropped_total``) so none is dropped silently.
_DROPPED: Counter[str] = Counter()
_DROPPED_LOCK = threading.Lock()
UNKNOWN_CHECK = "unknown_check"


def dropped_results() -> dict[str, int]:
    with _DROPPED_LOCK:
        return dict(_DROPPED)


def _count_dropped(reason: str, number: int) -> None:
    with _DROPPED_LOCK:
        _DROPPED[reason] += number


class ObservationLike(Protocol):
    @property
    def check(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def ok(self) -> bool: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def end_of_observation(self) -> bool: ...


class HeartbeatLike(Protocol):
    @property
    def runner_id(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def interval_ms(self) -> int: ...


class StoreSink:
    """``late`` tells results of a closed month (a spool delivered after an outage) from
    live ones: those are audited under the runner's id (heartbeat) or ``actor``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        timeline_params: Mapping[str, TimelineParams],
        *,
        late: LateAudit,
        actor: str = "runner",
    ) -> None:
        self.sessions = sessions
        self.timeline_params = timeline_params
        self.known_checks = set(timeline_params)
        self.late = late
        self.actor = actor

    def _store(
        self, observations: Sequence[ObservationLike], heartbeat: HeartbeatLike | None
    ) -> IngestResult:
        items = [
            ObservationIn(
                check=record.check,
                location=record.location,
                observed_at=record.observed_at,
                ok=record.ok,
                latency_ms=record.latency_ms,
                detail=clip_detail(record.detail),
                end_of_observation=record.end_of_observation,
            )
            for record in observations
            if record.check in self.known_checks
        ]
        if len(items) < len(observations):
            # A check removed from the catalog while its probe was in flight (or while its
            # results waited in the spool) has no timeline parameters any more: its results
            # are not stored, but counted and logged rather than lost without a trace.
            unknown = sorted({r.check for r in observations if r.check not in self.known_checks})
            _count_dropped(UNKNOWN_CHECK, len(observations) - len(items))
            log.warning(
                "%d results of checks no longer in the catalog not stored: %s",
                len(observations) - len(items),
                ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""),
            )
        with transaction(self.sessions) as session:
            result = store_observations(
                session,
                items,
                self.timeline_params,
                late_before_ms=self.late.current_month_start_ms(),
            )
            late = LateObservations(self.late)
            late.add(session, result.late)
            late.record(
                session,
                actor=f"runner:{heartbeat.runner_id}" if heartbeat is not None else self.actor,
            )
            if heartbeat is not None:
                record_heartbeat(
                    session,
                    HeartbeatIn(
                        runner_id=heartbeat.runner_id,
                        location=heartbeat.location,
                        at=heartbeat.at,
                        interval_ms=heartbeat.interval_ms,
                    ),
                )
        return result

    async def write(
        self, observations: Sequence[ObservationLike], heartbeat: HeartbeatLike | None = None
    ) -> None:
        await asyncio.to_thread(self._store, observations, heartbeat)
