"""The probe runner: every check of the catalog at its interval, observations to one writer.

Each check fires on a fixed grid, ``offset + k × interval`` from the Unix epoch, where the
offset is a stable hash of the check key: a thousand checks at the same interval spread
over it instead of firing in the same millisecond, and a restart keeps every check on its
grid. The grid is one heap of (next grid point, check) pairs with one event-loop timer for
the earliest, re-armed after each round (a general-purpose job scheduler cost a sizeable
share of the runner's CPU per probe in its bookkeeping; a loop timer per check made every
other timer of the loop dearer). A tick that comes late is counted; one
later than its grace is skipped, as only the next grid point is useful by then.

A tick only spawns a task and returns, so the timers never wait on a target. Each probe
is its own task, bounded by the probe's own timeout (``run_probe`` enforces it) and by a
concurrency semaphore; a check whose previous probe is still running skips the tick (and
the skip is counted) rather than piling up connections to a target that hangs.

While a check's last probe failed, it is probed every ``retry_interval`` instead (the grid's
ticks are skipped meanwhile): a failure is confirmed or dismissed as a blip quickly, and the
end of an outage is seen within ``retry_interval``. The first success puts it back on its
grid. The next retry is planned only once the failed probe has finished, so there is never
more than one probe of a check in flight. Which checks were failing survives a restart:
the runner is given them (``initial_failing``: the embedded runner reads the store, an
agent the state file it writes beside its spool on stop) and retries them at once.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import heapq
import json
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from app.catalog.model import Catalog
from probes.assignment import CheckAssignment
from probes.base import Check, ProbeContext, ProbeResult
from probes.protocols import run_probe
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord, ObservationSink

log = logging.getLogger(__name__)

ProbeFunction = Callable[[Check, ProbeContext], Awaitable[ProbeResult]]
# Called with the check and its schedule lag in ms (actual start − scheduled time).
LagCallback = Callable[[Check, float], None]
ResultCallback = Callable[[Check, ProbeResult], None]
# Called when a probe runs on the retry cadence rather than the grid (for the metrics).
RetryCallback = Callable[[Check], None]

# Beside an agent's spool: which checks were failing at its last stop (retry_interval).
FAILING_STATE_FILE = "failing-checks.json"
# Enough recent lags for percentiles in the benchmark and a debug endpoint, bounded.
RECENT_LAGS = 20_000
# Probes in flight at once. Each is a coroutine and a socket, so a thousand is cheap; fewer
# would let a few hundred hanging targets (each held until its timeout) make healthy checks
# wait for a slot, which shows up as schedule lag.
DEFAULT_MAX_CONCURRENCY = 1_000


# Container allocations between two young-generation collections (Python's default: 700).
# An HTTP probe allocates hundreds of short-lived objects (aiohttp's request, response,
# futures, handles), so the default collects several times per probe, and every tenth of
# those walks the older generations too.
GC_YOUNG_THRESHOLD = 20_000


def settle_heap_for_probing() -> None:
    """Tune the garbage collector for a long-running probe process (``kadou probe``; the
    process's own choice, so its entry point calls this, not the runner).

    What exists once the process is set up (modules, the catalog, the checks) lives as long
    as the process: it is collected once and then frozen, so no later collection walks it
    again; and young collections run every ``GC_YOUNG_THRESHOLD`` allocations rather than
    every 700. Cyclic garbage still goes, in fewer, slightly larger batches (a few MB).
    Measured at 2,000 checks every 10 s, this cut the runner's CPU per probe by 5-14 %
    (bench/probe_throughput.py).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def utc_now() -> datetime:
    return datetime.now(UTC)


def schedule_offset_ms(check_key: str, interval_ms: int) -> int:
    """Where in its interval a check fires: stable across restarts and machines."""
    digest = hashlib.blake2b(check_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % interval_ms


def _to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def misfire_grace_ms(interval_ms: int) -> int:
    """How late a grid tick may still run: an interval (at least a second); later, the next
    grid point is as near, so the late one is skipped and counted."""
    return max(1_000, interval_ms // 1_000 * 1_000)


def next_grid_ms(now_ms: int, offset_ms: int, interval_ms: int) -> int:
    """The first grid point (``offset + k × interval``) at or after ``now_ms``."""
    return now_ms + (offset_ms - now_ms) % interval_ms


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
    # A tick ran later than its grace time (misfire_grace_ms), so it was dropped.
    ticks_missed: int = 0
    heartbeats: int = 0
    in_flight: int = 0  # a gauge
    # Probes run every retry_interval because the check's last probe failed.
    retry_probes: int = 0
    # Grid ticks not probed because the check was on its retry cadence.
    ticks_retrying: int = 0
    retrying: int = 0  # a gauge: checks whose last probe failed


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
        initial_failing: Collection[str] = (),
        on_retry: RetryCallback | None = None,
        owns: Callable[[str], bool] | None = None,
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
        # Integer ms for the hot path: the default clock without a datetime per call.
        self._now_ms: Callable[[], int] = (
            _wall_ms if clock is utc_now else lambda: _to_ms(self._clock())
        )
        self._probe = probe
        self._on_result = on_result
        self._on_schedule_lag = on_schedule_lag
        self._owns_context = context is None
        self._context = context if context is not None else ProbeContext(clock=clock)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._stop_grace_s = stop_grace_ms / 1000
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        # Each check's grid offset (a hash), computed once rather than at every tick.
        self._offsets_ms = {
            check.key: schedule_offset_ms(check.key, check.interval_ms) for check in checks
        }
        # (next grid point in ms, check key) of every check, earliest first, and the one loop
        # timer, armed for the earliest; then the heartbeat's timer.
        self._grid: list[tuple[int, str]] = []
        self._grid_timer: asyncio.TimerHandle | None = None
        self._beat_timer: asyncio.TimerHandle | None = None
        self._started = False
        self._stopping = False
        self._on_retry = on_retry
        # With runners sharing the location's checks: whether this one probes a check now.
        self._owns = owns
        # Checks whose last probe failed, each with its next retry.
        self._retrying: dict[str, asyncio.Handle | None] = {
            key: None for key in initial_failing if key in self.checks and self._retries(key)
        }

    async def start(self) -> None:
        await self.writer.start()
        loop = asyncio.get_running_loop()
        now_ms = self._now_ms()
        self._grid = [
            (next_grid_ms(now_ms, self._offsets_ms[key], check.interval_ms), key)
            for key, check in self.checks.items()
        ]
        heapq.heapify(self._grid)
        self._arm_grid(now_ms)
        self._beat_timer = loop.call_later(self.heartbeat_interval_ms / 1000, self._beat_tick)
        self._started = True
        if self._retrying:
            # Failing when the last run stopped: in question now, so probed at once.
            log.info(
                "%d checks were failing at the last stop; probing them now", len(self._retrying)
            )
            loop = asyncio.get_running_loop()
            for key in self._retrying:
                self._retrying[key] = loop.call_soon(self._retry_tick, key)
            self.stats.retrying = len(self._retrying)
        # The first heartbeat at once: the runner is alive from now, not an interval later.
        self._beat()
        log.info(
            "probe runner %s started: %d checks at %s",
            self.runner_id,
            len(self.checks),
            self.location,
        )

    async def stop(self) -> None:
        """No new probes; wait briefly for those in flight; flush the writer."""
        self._stopping = True
        started, self._started = self._started, False
        if self._grid_timer is not None:
            self._grid_timer.cancel()
            self._grid_timer = None
        self._grid.clear()
        if self._beat_timer is not None:
            self._beat_timer.cancel()
            self._beat_timer = None
        for handle in self._retrying.values():
            if handle is not None:
                handle.cancel()
        pending = list(self._in_flight.values())
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=self._stop_grace_s)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.gather(*still_running, return_exceptions=True)
                log.warning("cancelled %d probes still running at stop", len(still_running))
        # A clean stop ends the holds of this runner's results now (SLA-SEMANTICS §3.1):
        # from here its checks are unknown, not up for stale_after more. The marks go the
        # results' way (batched, spooled if the server is unreachable).
        if started:
            stopped_at = self._clock()
            for key in self.checks:
                # A check another runner probes goes on being observed: no end for it.
                if self._owns is None or self._owns(key):
                    self.writer.add(ObservationRecord.end_mark(key, self.location, stopped_at))
        # Alive up to this last flush, not only up to the last periodic beat.
        self._beat()
        await self.writer.aclose()
        if self._owns_context:
            await self._context.aclose()
        log.info("probe runner %s stopped", self.runner_id)

    # -- scheduling --------------------------------------------------------------------

    def _arm_grid(self, now_ms: int) -> None:
        if self._grid:
            delay_s = max(0, self._grid[0][0] - now_ms) / 1000
            self._grid_timer = asyncio.get_running_loop().call_later(delay_s, self._run_grid)

    def _run_grid(self) -> None:
        """Every grid point that is due: its tick, and the check's next point on the heap."""
        self._grid_timer = None
        if self._stopping:
            return
        grid = self._grid
        # Within a millisecond counts as due: the loop's clock is not the wall clock.
        until_ms = self._now_ms() + 1
        while grid and grid[0][0] <= until_ms:
            due_ms, key = grid[0]
            try:
                next_ms = self._grid_tick(key, due_ms)
            except Exception:
                # One check's trouble (an ownership callback, say) must not stop the grid.
                log.exception("%s: tick failed", key)
                next_ms = due_ms + self.checks[key].interval_ms
            heapq.heapreplace(grid, (next_ms, key))
        self._arm_grid(self._now_ms())

    def _grid_tick(self, check_key: str, due_ms: int) -> int:
        """``check_key``'s grid point ``due_ms`` has come: maybe probe; its next grid point."""
        check = self.checks[check_key]
        interval_ms = check.interval_ms
        now_ms = self._now_ms()
        # The grid point this tick belongs to: the latest at or before now (the timer may
        # fire a little early or, on a busy loop, late; late ticks coalesce into one).
        scheduled_ms = due_ms
        if now_ms >= due_ms + interval_ms:
            scheduled_ms = now_ms - (now_ms - due_ms) % interval_ms
        if now_ms - scheduled_ms > misfire_grace_ms(interval_ms):
            self.stats.ticks_missed += 1
        else:
            self._tick(check, scheduled_ms)
        return scheduled_ms + interval_ms

    def _tick(self, check: Check, scheduled_ms: int) -> None:
        check_key = check.key
        if self._owns is not None and not self._owns(check_key):
            return  # another runner of this location probes it
        if check_key in self._retrying:
            # On its retry cadence until it succeeds; the grid would only add probes.
            self.stats.ticks_retrying += 1
            return
        if check_key in self._in_flight:
            self.stats.ticks_skipped += 1
            log.debug("%s: previous probe still running, tick skipped", check_key)
            return
        self._spawn(check, scheduled_ms, retry=False)

    def _spawn(self, check: Check, scheduled_ms: int, *, retry: bool) -> None:
        task = asyncio.create_task(
            self._run_one(check, scheduled_ms, retry=retry), name=f"probe {check.key}"
        )
        self._in_flight[check.key] = task
        self.stats.in_flight = len(self._in_flight)
        task.add_done_callback(lambda _: self._finished(check.key))

    def _retries(self, check_key: str) -> bool:
        check = self.checks[check_key]
        return check.retry_interval_ms < check.interval_ms

    def _retry_tick(self, check_key: str) -> None:
        if self._stopping or check_key not in self._retrying:
            return
        if self._owns is not None and not self._owns(check_key):
            # Handed over: its new runner probes it (and retries it if it still fails).
            del self._retrying[check_key]
            self.stats.retrying = len(self._retrying)
            return
        if check_key in self._in_flight:
            # The failed probe's task has not been reaped yet (its retry was due at once).
            self._retrying[check_key] = asyncio.get_running_loop().call_soon(
                self._retry_tick, check_key
            )
            return
        self._retrying[check_key] = None
        self._spawn(self.checks[check_key], self._now_ms(), retry=True)

    def _plan_retry(self, check: Check, result: ProbeResult, started_ms: int) -> None:
        """After a probe: retry a failure after retry_interval; a success goes back to the grid."""
        if result.ok or not self._retries(check.key):
            handle = self._retrying.pop(check.key, None)
            if handle is not None:
                handle.cancel()
            self.stats.retrying = len(self._retrying)
            return
        if self._stopping:
            self._retrying[check.key] = None  # still failing: remembered for the next start
            return
        loop = asyncio.get_running_loop()
        due_ms = started_ms + check.retry_interval_ms
        delay_s = max(0, due_ms - self._now_ms()) / 1000
        self._retrying[check.key] = loop.call_later(delay_s, self._retry_tick, check.key)
        self.stats.retrying = len(self._retrying)

    def _finished(self, check_key: str) -> None:
        self._in_flight.pop(check_key, None)
        self.stats.in_flight = len(self._in_flight)

    async def _run_one(self, check: Check, scheduled_ms: int, *, retry: bool = False) -> None:
        async with self._slots:
            started_ms = self._now_ms()
            self.stats.probes_started += 1
            if retry:
                self.stats.retry_probes += 1
                if self._on_retry is not None:
                    self._on_retry(check)
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
                # A success keeps its warnings (shown on the pages; never downtime).
                detail=result.detail if not result.ok else _warning_detail(result.warnings),
            )
        )
        self._plan_retry(check, result, started_ms)
        if self._on_result is not None:
            try:
                self._on_result(check, result)
            except Exception:
                log.exception("on_result callback failed for %s", check.key)

    @property
    def failing_checks(self) -> list[str]:
        """Checks whose last probe failed (on the retry cadence), for the next start."""
        return sorted(self._retrying)

    def _beat_tick(self) -> None:
        if self._stopping:
            return
        self._beat_timer = asyncio.get_running_loop().call_later(
            self.heartbeat_interval_ms / 1000, self._beat_tick
        )
        self._beat()

    def _beat(self) -> None:
        self.stats.heartbeats += 1
        self.writer.heartbeat(
            Heartbeat(
                runner_id=self.runner_id,
                location=self.location,
                at=self._clock(),
                interval_ms=self.heartbeat_interval_ms,
            )
        )


def _warning_detail(warnings: Sequence[str]) -> str | None:
    return "warning: " + "; ".join(warnings) if warnings else None


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
    on_retry: RetryCallback | None = None,
    assignment: CheckAssignment | None = None,
    runner_id: str | None = None,
) -> None:
    """Run every check of ``catalog`` from ``location`` until SIGTERM/SIGINT, then flush.

    With ``assignment``, only the checks the server assigns this runner (the location's
    runners share them); the caller owns it (close it afterwards).

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
        on_retry=on_retry,
        initial_failing=read_failing_checks(spool_dir),
        owns=assignment.owns if assignment is not None else None,
        runner_id=runner_id,
    )
    following: asyncio.Task[None] | None = None
    if assignment is not None:
        assignment.runner_id = runner.runner_id
        assignment.heartbeat_interval_s = heartbeat_interval_ms / 1000
        await assignment.refresh()  # the first answer before the first probe, if it comes
        following = asyncio.create_task(assignment.follow(), name="kadou-assignment")
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
        if following is not None:
            following.cancel()
        write_failing_checks(spool_dir, runner.failing_checks)
        for signum in installed:
            loop.remove_signal_handler(signum)


def read_failing_checks(spool_dir: Path) -> list[str]:
    """The checks that were failing when the agent last stopped (beside its spool).

    A crash leaves the state of the stop before it (or none): those checks then wait for
    their grid once, as they would without retries.
    """
    path = spool_dir / FAILING_STATE_FILE
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        log.warning("ignoring %s (%s): failing checks wait for their grid once", path, error)
        return []
    if not isinstance(keys, list):
        return []
    return [key for key in keys if isinstance(key, str)]


def write_failing_checks(spool_dir: Path, keys: Sequence[str]) -> None:
    path = spool_dir / FAILING_STATE_FILE
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(list(keys)), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        log.warning("cannot keep the failing checks in %s (%s)", path, error)
