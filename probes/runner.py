"""The probe runner: every check of the catalog at its interval, observations to one writer.

APScheduler (3.x, ``AsyncIOScheduler``) fires each check on a fixed grid,
``offset + k × interval`` from the Unix epoch, where the offset is a stable hash of the
check key: a thousand checks at the same interval spread over it instead of firing in the
same millisecond, and a restart keeps every check on its grid.

A tick only spawns a task and returns, so the scheduler never waits on a target. Each probe
is its own task, bounded by the probe's own timeout (``run_probe`` enforces it) and by a
concurrency semaphore; a check whose previous probe is still running skips the tick (and
the skip is counted) rather than piling up connections to a target that hangs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.catalog.model import Catalog
from probes.base import Check, ProbeContext, ProbeResult
from probes.protocols import run_probe
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord, ObservationSink

log = logging.getLogger(__name__)

ProbeFunction = Callable[[Check, ProbeContext], Awaitable[ProbeResult]]
# Called with the check and its schedule lag in ms (actual start − scheduled time).
LagCallback = Callable[[Check, float], None]
ResultCallback = Callable[[Check, ProbeResult], None]

# Enough recent lags for percentiles in the benchmark and a debug endpoint, bounded.
RECENT_LAGS = 20_000
# Probes in flight at once. Each is a coroutine and a socket, so a thousand is cheap; fewer
# would let a few hundred hanging targets (each held until its timeout) make healthy checks
# wait for a slot, which shows up as schedule lag.
DEFAULT_MAX_CONCURRENCY = 1_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def schedule_offset_ms(check_key: str, interval_ms: int) -> int:
    """Where in its interval a check fires: stable across restarts and machines."""
    digest = hashlib.blake2b(check_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % interval_ms


def _to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


class ObservationWriter(Protocol):
    """What the runner needs from a :class:`BatchingWriter`."""

    def add(self, record: ObservationRecord) -> None: ...

    def heartbeat(self, heartbeat: Heartbeat) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class RunnerStats:
    """Counters for /metrics and the benchmark."""

    probes_started: int = 0
    probes_finished: int = 0
    # A tick came while the check's previous probe was still running.
    ticks_skipped: int = 0
    # APScheduler ran a tick later than its misfire grace time, so it was dropped.
    ticks_missed: int = 0
    heartbeats: int = 0
    in_flight: int = 0  # a gauge


class ProbeRunner:
    def __init__(
        self,
        checks: Sequence[Check],
        writer: ObservationWriter | ObservationSink,
        location: str,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        clock: Callable[[], datetime] = utc_now,
        runner_id: str | None = None,
        heartbeat_interval_ms: int = 10_000,
        on_result: ResultCallback | None = None,
        on_schedule_lag: LagCallback | None = None,
        probe: ProbeFunction = run_probe,
        context: ProbeContext | None = None,
        stop_grace_ms: int = 5_000,
    ) -> None:
        keys = [check.key for check in checks]
        if any(not key for key in keys):
            raise ValueError(
                "every check needs its key 'system/service/check' (the loader sets it)"
            )
        if len(set(keys)) != len(keys):
            raise ValueError("two checks share a key; check keys must be unique")
        self.checks = {check.key: check for check in checks}
        # A bare sink (the embedded store) gets a writer without a disk spool.
        self.writer = _as_writer(writer)
        self.location = location
        self.runner_id = runner_id or f"{socket.gethostname()}/{location}"
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.stats = RunnerStats()
        # Recent schedule lags in ms, for percentiles (the benchmark, a debug page).
        self.recent_lags_ms: deque[float] = deque(maxlen=RECENT_LAGS)
        self._clock = clock
        self._probe = probe
        self._on_result = on_result
        self._on_schedule_lag = on_schedule_lag
        self._owns_context = context is None
        self._context = context if context is not None else ProbeContext(clock=clock)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._stop_grace_s = stop_grace_ms / 1000
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._stopping = False

    async def start(self) -> None:
        await self.writer.start()
        scheduler = AsyncIOScheduler(timezone=UTC)
        for check in self.checks.values():
            interval_ms = check.interval_ms
            offset_ms = schedule_offset_ms(check.key, interval_ms)
            scheduler.add_job(
                self._tick,
                IntervalTrigger(
                    seconds=interval_ms / 1000,
                    start_date=datetime.fromtimestamp(offset_ms / 1000, tz=UTC),
                    timezone=UTC,
                ),
                args=(check.key,),
                id=check.key,
                name=check.key,
                # _tick returns at once; our own in-flight map decides on overlapping probes.
                max_instances=1_000_000,
                coalesce=True,
                # A tick later than an interval is useless: the next one is due.
                misfire_grace_time=max(1, interval_ms // 1000),
            )
        scheduler.add_job(
            self._beat,
            IntervalTrigger(seconds=self.heartbeat_interval_ms / 1000, timezone=UTC),
            id="kadou-runner-heartbeat",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        scheduler.start()
        self._scheduler = scheduler
        # The first heartbeat at once: the runner is alive from now, not an interval later.
        await self._beat()
        log.info(
            "probe runner %s started: %d checks at %s",
            self.runner_id,
            len(self.checks),
            self.location,
        )

    async def stop(self) -> None:
        """No new probes; wait briefly for those in flight; flush the writer."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        pending = list(self._in_flight.values())
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=self._stop_grace_s)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.gather(*still_running, return_exceptions=True)
                log.warning("cancelled %d probes still running at stop", len(still_running))
        # Alive up to this last flush, not only up to the last periodic beat.
        await self._beat()
        await self.writer.aclose()
        if self._owns_context:
            await self._context.aclose()
        log.info("probe runner %s stopped", self.runner_id)

    # -- scheduling --------------------------------------------------------------------

    async def _tick(self, check_key: str) -> None:
        if self._stopping:
            return
        check = self.checks[check_key]
        now_ms = _to_ms(self._clock())
        interval_ms = check.interval_ms
        offset_ms = schedule_offset_ms(check_key, interval_ms)
        # The grid point this tick belongs to (the latest at or before now).
        scheduled_ms = now_ms - (now_ms - offset_ms) % interval_ms
        if check_key in self._in_flight:
            self.stats.ticks_skipped += 1
            log.debug("%s: previous probe still running, tick skipped", check_key)
            return
        task = asyncio.create_task(self._run_one(check, scheduled_ms), name=f"probe {check_key}")
        self._in_flight[check_key] = task
        self.stats.in_flight = len(self._in_flight)
        task.add_done_callback(lambda _: self._finished(check_key))

    def _finished(self, check_key: str) -> None:
        self._in_flight.pop(check_key, None)
        self.stats.in_flight = len(self._in_flight)

    async def _run_one(self, check: Check, scheduled_ms: int) -> None:
        async with self._slots:
            started = self._clock()
            started_ms = _to_ms(started)
            self.stats.probes_started += 1
            lag_ms = float(max(0, started_ms - scheduled_ms))
            self.recent_lags_ms.append(lag_ms)
            if self._on_schedule_lag is not None:
                self._on_schedule_lag(check, lag_ms)
            result = await self._probe(check, self._context)
        self.stats.probes_finished += 1
        self.writer.add(
            ObservationRecord(
                check=check.key,
                location=self.location,
                # Whole milliseconds, as everywhere inside Kadou.
                observed_at=datetime.fromtimestamp(started_ms / 1000, tz=UTC),
                ok=result.ok,
                latency_ms=round(result.latency_ms, 3),
                detail=None if result.ok else result.detail,
            )
        )
        if self._on_result is not None:
            try:
                self._on_result(check, result)
            except Exception:
                log.exception("on_result callback failed for %s", check.key)

    async def _beat(self) -> None:
        self.stats.heartbeats += 1
        self.writer.heartbeat(
            Heartbeat(
                runner_id=self.runner_id,
                location=self.location,
                at=self._clock(),
                interval_ms=self.heartbeat_interval_ms,
            )
        )

    def _on_missed(self, event: JobExecutionEvent) -> None:
        self.stats.ticks_missed += 1


def _as_writer(target: ObservationWriter | ObservationSink) -> ObservationWriter:
    if isinstance(target, BatchingWriter):
        return target
    if isinstance(target, ObservationSink):
        # A bare sink (the embedded store): batched and retried, spooled in memory only.
        return BatchingWriter(target)
    return target


async def run_probe_agent(
    catalog: Catalog,
    location: str,
    sink: ObservationSink,
    spool_dir: Path,
    *,
    stop_event: asyncio.Event | None = None,
    flush_interval_ms: int = 1_000,
    heartbeat_interval_ms: int = 10_000,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_result: ResultCallback | None = None,
) -> None:
    """Run every check of ``catalog`` from ``location`` until SIGTERM/SIGINT, then flush.

    With ``stop_event`` the caller decides when to stop (no signal handlers installed).
    The caller owns ``sink`` (close it afterwards).
    """
    writer = BatchingWriter(sink, spool_dir, flush_interval_ms=flush_interval_ms)
    runner = ProbeRunner(
        list(catalog.checks().values()),
        writer,
        location,
        max_concurrency=max_concurrency,
        heartbeat_interval_ms=heartbeat_interval_ms,
        on_result=on_result,
    )
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if stop_event is None:
        stop_event = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_event.set)
            installed.append(signum)
    try:
        await runner.start()
        await stop_event.wait()
        log.info("stopping: flushing observations")
    finally:
        await runner.stop()
        for signum in installed:
            loop.remove_signal_handler(signum)
