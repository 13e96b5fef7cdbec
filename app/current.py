"""The current state of everything: this month to now, evaluated once and shared.

An application service, not part of any one adapter: ``GET /api/v1/systems``, the pages
and ``/metrics`` all read this snapshot, so the state a page shows and the state
Prometheus scrapes come from the same ``evaluate_period`` call as the availability report.
It is recomputed when older than ``max_age`` (and in the background for ``/metrics``, so a
scrape never evaluates raw data), and dropped after a write through this process so the
writer sees its own change at once.

A write and a computation can overlap: a snapshot whose computation started before
``invalidate()`` may hold the data from before the write. A generation counter, bumped by
every ``invalidate()``, tells the computation that its result is already stale, so it is
handed to the request that asked for it but never kept as fresh. Values derived from the
current state (the status page's days, say) live in a :class:`DerivedCache`, which follows
the same generation, so one ``invalidate()`` drops them all.

Several server replicas share one database, and a write may come from another replica or
from the command line. The background refresher therefore also polls the database's change
generation (``app.store.changes``: the audit log read as a counter, a plain query that
works through a pooler in transaction mode) every ``change_poll_seconds`` and calls
``invalidate()`` when it moved, so a write anywhere reaches this process's caches within
one poll. Arriving observations are not audited and not polled for: readers accept state
up to ``max_age`` old, as they do for this process's own ingest.

``/metrics`` reads the *published* snapshot: one computed at the instants of a wall-clock
grid (multiples of the refresh interval, the same on every replica), again at the same
instant when a write is noticed. Replicas with synchronised clocks thus publish figures
of the same instant from the same data, so a scrape of any replica gives the same SLA
figures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from app.evaluation import EvaluationResult, evaluate_period, report_document
from app.runtime import Runtime
from app.sla import periods
from app.sla.timeline import Timeline, check_timeline, service_at_location
from app.store.changes import change_generation
from app.store.exclusions import list_exclusions
from app.store.history import latest_version_numbers
from app.store.models import Exclusion
from app.store.monitor import describe, is_unavailable
from app.store.runners import runner_heartbeats
from app.store.segments import last_observations as read_last_observations
from app.store.segments import segments_at
from app.store.types import from_ms, to_ms

log = logging.getLogger("kadou.current")

UP, DOWN, UNKNOWN = "up", "down", "unknown"
STATES = (UP, DOWN, UNKNOWN)


@dataclass(frozen=True, slots=True)
class LastObservation:
    observed_at: datetime
    ok: bool | None
    detail: str | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    runner_id: str
    location: str
    last_seen_at: datetime
    interval_ms: int


@dataclass(frozen=True)
class CurrentState:
    now: datetime
    period: periods.Period
    result: EvaluationResult
    # The report document of the month to date: the same figures as the API and reports.
    document: dict[str, Any]
    # (system, service or None for the system itself) -> up | down | unknown at the cut-off
    states: dict[tuple[str, str | None], str]
    # (system, service, location) -> state of the service at that location (§3.3)
    location_states: dict[tuple[str, str, str], str]
    # (check key, location) -> state of the check there at the cut-off
    check_states: dict[tuple[str, str], str]
    last_observations: dict[tuple[str, str], LastObservation]
    heartbeats: list[Heartbeat]
    active_exclusions: list[Exclusion]
    computed_in_seconds: float
    computed_monotonic: float
    # Closed month ("2026-10") -> its latest version: 1 closed, 2 and more amended (§9).
    month_versions: dict[str, int] = field(default_factory=dict)

    def figures(self, system_id: str, service_id: str | None) -> dict[str, Any]:
        """The report document's entry for one service (or, with None, the system)."""
        rows = self.document["systems"] if service_id is None else self.document["services"]
        for row in rows:
            if row["system"] == system_id and (service_id is None or row["service"] == service_id):
                return dict(row)
        raise KeyError(f"{system_id}/{service_id}")


def state_at(timeline: Timeline, instant_ms: int) -> str:
    if not timeline.start_ms <= instant_ms < timeline.end_ms:
        return UNKNOWN
    if timeline.down.contains(instant_ms):
        return DOWN
    if timeline.up.contains(instant_ms):
        return UP
    return UNKNOWN


def compute_current_state(runtime: Runtime, now: datetime) -> CurrentState:
    started = time.perf_counter()
    catalog = runtime.catalog
    zone = ZoneInfo(runtime.timezone)
    local_now = now.astimezone(zone)
    period = periods.month(local_now.year, local_now.month, runtime.timezone)
    with runtime.sessions() as session:
        result = evaluate_period(session, catalog, period, now=now)
        cutoff_ms = period.evaluated_end_ms(to_ms(result.cutoff))
        # The state "now" is the state of the last evaluated millisecond.
        instant_ms = cutoff_ms - 1
        covering = segments_at(session, instant_ms)
        timelines = read_last_observations(session)
        heartbeats = [
            Heartbeat(row.runner_id, row.location, row.last_seen_at, row.interval_ms)
            for row in runner_heartbeats(session)
        ]
        active = list_exclusions(session, start=now, end=from_ms(to_ms(now) + 1))
        month_versions = latest_version_numbers(session)

    states = {
        (evaluation.system_id, evaluation.service_id): state_at(evaluation.timeline, instant_ms)
        for evaluation in result.evaluations
    }
    last_observations = {
        (row.check, row.location): LastObservation(
            row.last_observed_at, row.last_ok, row.last_detail, row.last_latency_ms
        )
        for row in timelines
        if row.last_observed_at is not None
    }
    locations = sorted({location for _, location in last_observations} | {k[1] for k in covering})
    check_states: dict[tuple[str, str], str] = {}
    location_states: dict[tuple[str, str, str], str] = {}
    for system in catalog.systems:
        for service in system.services:
            for location in locations:
                keys = [check.key for check in service.checks]
                if not any((key, location) in last_observations for key in keys):
                    continue  # this location never probed this service
                check_timelines = []
                for key in keys:
                    timeline = check_timeline(
                        covering.get((key, location), ()), instant_ms, instant_ms + 1
                    )
                    check_states[(key, location)] = state_at(timeline, instant_ms)
                    check_timelines.append(timeline)
                location_states[(system.id, service.id, location)] = state_at(
                    service_at_location(check_timelines, instant_ms, instant_ms + 1), instant_ms
                )
    return CurrentState(
        now=now,
        period=period,
        result=result,
        document=report_document(catalog, result),
        states=states,
        location_states=location_states,
        check_states=check_states,
        last_observations=last_observations,
        heartbeats=heartbeats,
        active_exclusions=active,
        computed_in_seconds=time.perf_counter() - started,
        computed_monotonic=time.monotonic(),
        month_versions=month_versions,
    )


class CurrentStateCache:
    """One snapshot at a time, computed by one thread while the others wait for it."""

    def __init__(
        self, runtime: Runtime, clock: Callable[[], datetime], *, max_age_seconds: float = 5.0
    ) -> None:
        self.runtime = runtime
        self.clock = clock
        self.max_age_seconds = max_age_seconds
        self._snapshot: CurrentState | None = None
        self._generation = 0
        self._lock = threading.Lock()
        # Guards the (snapshot, generation) pair; never held while computing.
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh_errors = 0
        # The database's change generation last read, and who to tell when it moves.
        self._shared_generation: tuple[int, int] | None = None
        self._change_listeners: list[Callable[[], None]] = []
        # The snapshot /metrics shows, computed at a grid instant (see the module's docstring).
        self._published: CurrentState | None = None
        self._published_generation = -1

    @property
    def generation(self) -> int:
        """How many times the state was invalidated; changes after every write."""
        return self._generation

    def peek(self) -> CurrentState | None:
        return self._snapshot

    def published(self) -> CurrentState | None:
        """The snapshot of the last grid instant (None until the refresher computed one)."""
        return self._published

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a write by any process is noticed (other caches)."""
        self._change_listeners.append(listener)

    def sync_shared_changes(self) -> bool:
        """Read the database's change generation; invalidate if it moved. True if it did.

        The first reading counts as a change: nothing computed before it can be trusted
        to include writes it did not see.
        """
        with self.runtime.sessions() as session:
            seen = change_generation(session)
        if seen == self._shared_generation:
            return False
        self._shared_generation = seen
        self.invalidate()
        for listener in self._change_listeners:
            listener()
        return True

    def fresh(self) -> CurrentState | None:
        """The snapshot ``get()`` would return without computing, or None: never blocks, so
        an async route can answer from it on the event loop."""
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.computed_monotonic <= (
            self.max_age_seconds
        ):
            return snapshot
        return None

    def get(self, max_age_seconds: float | None = None) -> CurrentState:
        max_age = self.max_age_seconds if max_age_seconds is None else max_age_seconds
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.computed_monotonic <= max_age:
            return snapshot
        with self._lock:
            snapshot = self._snapshot  # another thread may have refreshed it meanwhile
            if snapshot is not None and time.monotonic() - snapshot.computed_monotonic <= max_age:
                return snapshot
            return self._compute()

    def refresh(self) -> CurrentState:
        with self._lock:
            return self._compute()

    def invalidate(self) -> None:
        """Drop the snapshot (and derived values): call after every write that changes figures.

        A computation already running keeps its result to itself (see the module's
        docstring), so the next ``get()`` reads the store again and sees the write.
        """
        with self._state_lock:
            self._generation += 1
            self._snapshot = None

    def _compute(self) -> CurrentState:
        started_generation = self._generation
        snapshot = compute_current_state(self.runtime, self.clock())
        with self._state_lock:
            if self._generation == started_generation:
                self._snapshot = snapshot
        return snapshot

    # --- the background refresher (for /metrics) ---------------------------------------

    def publish(self, instant: datetime) -> CurrentState:
        """Compute the snapshot of ``instant`` and make it the one ``/metrics`` shows."""
        with self._lock:
            started_generation = self._generation
            snapshot = compute_current_state(self.runtime, instant)
            with self._state_lock:
                self._published = snapshot
                self._published_generation = started_generation
            return snapshot

    def start_refresher(self, interval_seconds: float, change_poll_seconds: float = 2.0) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._refresh_loop,
            args=(interval_seconds, change_poll_seconds),
            name="kadou-current-state",
            daemon=True,
        )
        self._thread.start()

    def stop_refresher(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _refresh_loop(self, interval_seconds: float, change_poll_seconds: float) -> None:
        interval_ms = max(1, round(interval_seconds * 1000))
        while not self._stop.is_set():
            try:
                self.sync_shared_changes()
                # The grid instant at or before now: every replica picks the same one.
                instant = from_ms(to_ms(self.clock()) // interval_ms * interval_ms)
                published = self._published
                if (
                    published is None
                    or published.now != instant
                    or self._published_generation != self._generation
                ):
                    self.publish(instant)
            except Exception as error:
                # Keep the last good snapshot; the staleness shows in
                # kadou_sla_snapshot_age_seconds and the next round tries again.
                self.refresh_errors += 1
                if is_unavailable(error):
                    # The database monitor logs the outage once; not a traceback a round.
                    log.debug("current state not refreshed: %s", describe(error))
                else:
                    log.exception("refreshing the current state failed")
            # Wake for the next poll, or just after the next grid instant if sooner.
            to_next_instant = interval_seconds - (time.time() % interval_seconds) + 0.01
            self._stop.wait(min(change_poll_seconds, to_next_instant))


T = TypeVar("T")


class DerivedCache(Generic[T]):
    """One value built from the current state, recomputed by one thread when stale.

    Stale means older than ``max_age_seconds`` or computed before the current state's last
    ``invalidate()``: a write that changes the figures shows on every page at once, not
    after the slower page's own cache expires.
    """

    def __init__(self, source: CurrentStateCache, max_age_seconds: float) -> None:
        self.source = source
        self.max_age_seconds = max_age_seconds
        # (value, generation it was computed at, monotonic time it was computed)
        self._entry: tuple[T, int, float] | None = None
        self._lock = threading.Lock()

    def _fresh(self) -> T | None:
        entry = self._entry
        if entry is None:
            return None
        value, generation, computed = entry
        if generation != self.source.generation:
            return None
        if time.monotonic() - computed > self.max_age_seconds:
            return None
        return value

    def get(self, compute: Callable[[], T]) -> T:
        value = self._fresh()
        if value is not None:
            return value
        with self._lock:
            value = self._fresh()
            if value is not None:
                return value
            generation = self.source.generation
            value = compute()
            # Kept as of the generation it started at: if a write came meanwhile, the
            # entry is already stale and the next reader computes again.
            self._entry = (value, generation, time.monotonic())
            return value

    def invalidate(self) -> None:
        self._entry = None
