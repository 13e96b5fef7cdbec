"""The embedded probe runner's sink: observations straight into the store.

It satisfies ``probes.sink.ObservationSink`` structurally (``async write(observations,
heartbeat=None)``), so the store does not import the probes package. Each batch is one
transaction, run in a worker thread so the event loop keeps probing while the database
writes; it returns only after the commit, and storing is idempotent on (check, location,
observed_at), which is what the runner's at-least-once writer expects.
"""

from __future__ import annotations

import asyncio
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
from app.store.models import clip_detail


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
    def __init__(
        self, sessions: sessionmaker[Session], timeline_params: Mapping[str, TimelineParams]
    ) -> None:
        self.sessions = sessions
        self.timeline_params = timeline_params
        self.known_checks = set(timeline_params)

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
            # A check removed from the catalog while its probe was in flight has no
            # timeline parameters any more; its last results are of no use.
            for record in observations
            if record.check in self.known_checks
        ]
        with transaction(self.sessions) as session:
            result = store_observations(session, items, self.timeline_params)
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
