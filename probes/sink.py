"""Where observations go: one narrow sink, batched, retried, and spooled to disk.

The runner never talks to the database or to a remote Kadou directly. It hands each
observation to a :class:`BatchingWriter`, which groups them (every second or every 500) and
passes each batch to an :class:`ObservationSink`: the store (``kadou serve``) or
:class:`HttpPushSink` (``kadou probe --push URL``, an agent in another location).

Delivery is at least once. A batch the sink could not take is kept in a bounded spool
(fsync'd JSON Lines files when a spool directory is given) and delivered, oldest first,
before anything newer, so an outage of the server or a restart of the agent loses nothing
and keeps the order. The server deduplicates on ``(check, location, observed_at)``.

Batches are independent (the server's timeline does not depend on arrival order), so one
batch never blocks the others. A batch the sink refuses for good (HTTP 4xx) goes to the
dead-letter directory with the server's reason. A batch that fails while the next one is
stored (a server bug on one observation: HTTP 500) is held back and retried on its own
capped, jittered back-off while later batches go through. Only when two batches in a row
fail is the sink itself taken to be down, and everything waits for it with the same
back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

import httpx

# Re-exported: the runner and the agent name them as part of the sink's interface.
from probes.records import Heartbeat as Heartbeat
from probes.records import ObservationRecord as ObservationRecord
from probes.spool import DiskSpool, MemorySpool, Spool, SpooledBatch

log = logging.getLogger(__name__)

RESULTS_PATH = "/api/v1/results"
DEFAULT_SPOOL_MAX_BYTES = 512 * 1024 * 1024
# Used when there is no spool directory (the embedded store): failed batches wait in memory.
DEFAULT_MEMORY_SPOOL_MAX_OBSERVATIONS = 200_000
# Observations held in memory before the oldest go to the spool: a few seconds of a large
# runner's results (10,000 checks every 10 s give 1,000 a second), a few megabytes.
DEFAULT_MAX_BUFFERED = 10_000


class SinkError(Exception):
    """The sink could not store the batch now; the writer retries it later."""


class SinkRejected(SinkError):
    """The sink will never take this batch (e.g. HTTP 422); retrying cannot help.

    The writer logs it loudly and sets the batch aside (``rejected/`` in the spool
    directory) for a human, instead of retrying it forever or dropping it silently.
    """

    def __init__(self, reason: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


@runtime_checkable
class ObservationSink(Protocol):
    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        """Return only once the batch is durably stored; raise on failure.

        Raise :class:`SinkRejected` when retrying cannot help, anything else when it may.
        Must be idempotent: the same batch may be written again after a failure.
        """
        ...


class HttpPushSink:
    """Agent mode: push batches to a remote Kadou's ``POST /api/v1/results``.

    The server answers 2xx only after its commit and is idempotent on
    ``(check, location, observed_at)``, which makes at-least-once delivery exact there.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_ms: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Accept both the server's base URL and the full endpoint URL.
        base = url.rstrip("/")
        self.endpoint = base if base.endswith(RESULTS_PATH) else base + RESULTS_PATH
        timeout_s = timeout_ms / 1000
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        body = {
            "observations": [record.to_json() for record in observations],
            "heartbeat": heartbeat.to_json() if heartbeat is not None else None,
        }
        try:
            response = await self._client.post(self.endpoint, json=body)
        except httpx.HTTPError as exc:
            # Connection refused, timeouts, resets: the server may be back soon.
            raise SinkError(f"POST {self.endpoint}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        problem = response.text[:2000]
        if 400 <= status < 500 and status not in (408, 429):
            raise SinkRejected(
                f"POST {self.endpoint} rejected the batch with HTTP {status}",
                status=status,
                body=problem,
            )
        raise SinkError(f"POST {self.endpoint}: HTTP {status}: {problem[:200]}")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass(slots=True)
class WriterStats:
    """Counters for /metrics and the logs; monotonically increasing unless noted."""

    delivered_observations: int = 0
    delivered_batches: int = 0
    delivery_failures: int = 0
    # Set aside because the sink said retrying cannot help (HTTP 4xx): the dead letters.
    rejected_observations: int = 0
    rejected_batches: int = 0
    # Batches that failed alone while others were stored, waiting on their own back-off.
    held_batches: int = 0  # a gauge
    # Refused because the spool was full: these are lost, and said so loudly.
    refused_observations: int = 0
    spooled_observations: int = 0  # currently waiting in the spool (a gauge)
    spool_bytes: int = 0  # a gauge
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """What ``/readyz`` and ``/metrics`` say about a writer (see :func:`writer_statuses`)."""

    name: str  # "embedded" for kadou serve's runner, "agent" for kadou probe
    # Observations taken from the runner and not yet stored: buffered, being sent, spooled.
    backlog: int
    spooled: int
    spool_bytes: int
    # Lost because the spool was full or its disk failed (never silently).
    dropped: int
    # Set aside for good in the dead-letter directory (the sink refused them).
    dead_letter: int
    held_batches: int
    # Storing falls behind or the sink fails: observations wait in the spool.
    behind: bool
    last_error: str | None


# The writers of this process, for /metrics and /readyz; a closed writer leaves at once.
_LIVE_WRITERS: weakref.WeakSet[BatchingWriter] = weakref.WeakSet()


def writer_statuses() -> list[WriterStatus]:
    """The state of every running writer of this process (usually one), by name."""
    return sorted((writer.status() for writer in list(_LIVE_WRITERS)), key=lambda s: s.name)


@dataclass(slots=True)
class _Hold:
    """A spooled batch that failed alone: when it may be tried again."""

    last_error: str
    attempts: int = 0
    next_attempt_at: float = 0.0  # time.monotonic() seconds


class BatchingWriter:
    """Buffers observations and delivers them to a sink in batches, in order, at least once.

    ``add`` never blocks and never raises: the runner's probes must not wait for storage.
    Every ``flush_interval_ms`` (or as soon as ``max_batch`` observations are buffered) the
    buffer is delivered; if the sink fails, the batch goes to the spool and delivery is
    retried with exponential back-off (capped at ``backoff_max_ms``, jittered). The spool is
    delivered oldest first, before anything newer, so after an outage the sink sees the
    observations in order; a batch that fails on its own is held back (see the module
    docstring) rather than blocking the ones behind it.
    """

    def __init__(
        self,
        sink: ObservationSink,
        spool_dir: Path | None = None,
        *,
        flush_interval_ms: int = 1_000,
        max_batch: int = 500,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        memory_spool_max_observations: int = DEFAULT_MEMORY_SPOOL_MAX_OBSERVATIONS,
        backoff_initial_ms: int = 500,
        backoff_max_ms: int = 30_000,
        write_timeout_ms: int = 30_000,
        close_timeout_ms: int = 10_000,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        name: str = "agent",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_buffered < max_batch:
            raise ValueError("max_buffered must be at least max_batch")
        self.max_buffered = max_buffered
        self.name = name
        self._sink = sink
        self._spool_dir = spool_dir
        self._spool_max_bytes = spool_max_bytes
        self._memory_spool_max_observations = memory_spool_max_observations
        self._spool: Spool | None = None
        self.flush_interval_ms = flush_interval_ms
        self.max_batch = max_batch
        self._backoff_initial_ms = backoff_initial_ms
        self._backoff_max_ms = backoff_max_ms
        self._write_timeout_s = write_timeout_ms / 1000
        self._close_timeout_s = close_timeout_ms / 1000
        self._buffer: list[ObservationRecord] = []
        self._pending_heartbeat: Heartbeat | None = None
        self._wake = asyncio.Event()
        # One delivery cycle at a time: the spool is read and trimmed from its head.
        self._cycle_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._consecutive_failures = 0
        self._next_attempt_at = 0.0  # time.monotonic() seconds
        self._last_failure = ""
        # Batches held back on their own back-off, by spool id.
        self._holds: dict[str, _Hold] = {}
        # Observations taken from the buffer by the running cycle and not yet stored.
        self._sending = 0
        # The buffer overflowed into the spool and the backlog has not drained since.
        self._falling_behind = False
        self.stats = WriterStats()

    # -- the runner's side -------------------------------------------------------------

    def add(self, record: ObservationRecord) -> None:
        self._buffer.append(record)
        if len(self._buffer) >= self.max_batch:
            self._wake.set()
            if len(self._buffer) > self.max_buffered and self._spool is not None:
                self._overflow()

    def _overflow(self) -> None:
        """Storing falls behind: the oldest buffered batch goes to the spool.

        Memory stays bounded whatever the sink's speed; the spool is delivered first, so
        the order holds, and a full spool refuses (counted as dropped), never silently.
        """
        assert self._spool is not None
        batch = SpooledBatch(observations=tuple(self._buffer[: self.max_batch]))
        del self._buffer[: self.max_batch]
        if not self._falling_behind:
            self._falling_behind = True
            log.warning(
                "storing falls behind probing: more than %d results wait in memory; "
                "spooling the oldest (see kadou_writer_backlog)",
                self.max_buffered,
            )
        self._spool_batch(batch)
        self._update_spool_gauges()

    def heartbeat(self, heartbeat: Heartbeat) -> None:
        """Send ``heartbeat`` now, with what is buffered (only the latest pending one is kept).

        At once rather than at the next flush: a runner is live for 1.5 heartbeat intervals
        after its last beat (``app.assignments``), so a beat that waited for a flush
        interval as long as the heartbeat's would let a live runner look lost and its
        checks be handed over for nothing.
        """
        self._pending_heartbeat = heartbeat
        self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool and start delivering, the spool's content first."""
        if self._flusher is not None:
            return
        self._spool = self._open_spool()
        self._update_spool_gauges()
        if self.stats.spooled_observations:
            log.info(
                "spool holds %d observations from before; delivering them first",
                self.stats.spooled_observations,
            )
        self._flusher = asyncio.create_task(self._run(), name="kadou-batching-writer")
        _LIVE_WRITERS.add(self)

    def status(self) -> WriterStatus:
        stats = self.stats
        return WriterStatus(
            name=self.name,
            backlog=len(self._buffer) + self._sending + stats.spooled_observations,
            spooled=stats.spooled_observations,
            spool_bytes=stats.spool_bytes,
            dropped=stats.refused_observations,
            dead_letter=stats.rejected_observations,
            held_batches=stats.held_batches,
            behind=stats.spooled_observations > 0,
            last_error=stats.last_error,
        )

    async def flush(self) -> None:
        """Deliver what is buffered now (or spool it), ignoring the back-off."""
        if self._spool is None:
            self._spool = self._open_spool()
        await self._cycle(force=True)

    async def aclose(self) -> None:
        """Flush everything it can (on SIGTERM); spool what the sink would not take."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), self._close_timeout_s)
            except TimeoutError:
                self._flusher.cancel()
                await asyncio.gather(self._flusher, return_exceptions=True)
        if self._spool is None:
            self._spool = self._open_spool()
        try:
            await asyncio.wait_for(self._cycle(force=True), self._close_timeout_s)
        except TimeoutError:
            log.warning("the sink did not answer while closing; undelivered batches are spooled")
        self._closed = True
        _LIVE_WRITERS.discard(self)
        if self.stats.spooled_observations:
            where = self._spool_dir if self._spool_dir is not None else "memory (lost on exit)"
            log.warning(
                "closing with %d observations undelivered, kept in %s",
                self.stats.spooled_observations,
                where,
            )

    # -- delivery ----------------------------------------------------------------------

    def _open_spool(self) -> Spool:
        if self._spool_dir is not None:
            try:
                return DiskSpool(self._spool_dir, max_bytes=self._spool_max_bytes)
            except OSError as error:
                # Probing goes on (the results still reach a healthy sink); only a restart
                # during an outage would lose what waits in memory, and the log says so.
                log.error(
                    "cannot use the spool directory %s (%s); keeping unsent results in "
                    "memory, where a restart loses them: fix its permissions or set "
                    "KADOU_SPOOL_DIR / --spool-dir",
                    self._spool_dir,
                    error,
                )
                self._spool_dir = None
        return MemorySpool(max_observations=self._memory_spool_max_observations)

    async def _run(self) -> None:
        # The first cycle runs at once, so the spool left by a previous run goes first.
        while True:
            try:
                await self._cycle(force=False)
            except Exception:
                # A bug here must not stop delivery for good; the data is still buffered.
                log.exception("batching writer cycle failed; retrying")
            if self._closing:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_ms / 1000)
            self._wake.clear()

    def _take_batches(self) -> list[SpooledBatch]:
        records, self._buffer = self._buffer, []
        heartbeat, self._pending_heartbeat = self._pending_heartbeat, None
        batches = [
            SpooledBatch(observations=tuple(records[start : start + self.max_batch]))
            for start in range(0, len(records), self.max_batch)
        ]
        if heartbeat is not None:
            if batches:
                last = batches[-1]
                batches[-1] = SpooledBatch(observations=last.observations, heartbeat=heartbeat)
            else:
                batches.append(SpooledBatch(observations=(), heartbeat=heartbeat))
        return batches

    async def _cycle(self, *, force: bool) -> None:
        async with self._cycle_lock:
            await self._cycle_locked(force=force)

    async def _cycle_locked(self, *, force: bool) -> None:
        assert self._spool is not None
        unsent = deque(self._take_batches())
        self._sending = sum(len(batch.observations) for batch in unsent)
        try:
            if force or time.monotonic() >= self._next_attempt_at:
                await self._deliver(unsent, force=force)
        finally:
            # Whatever was not delivered is made durable, even when cancelled mid-send
            # (SIGTERM while the server hangs): at least once, never lost.
            while unsent:
                self._spool_batch(unsent.popleft())
            self._sending = 0
            self._update_spool_gauges()
            if self._falling_behind and not self._buffer and not self.stats.spooled_observations:
                self._falling_behind = False
                log.info("storing has caught up with probing; the spool is empty")

    async def _deliver(self, unsent: deque[SpooledBatch], *, force: bool) -> None:
        """Deliver the spool oldest first, then ``unsent``; stop when the sink is down.

        A failed batch is a suspect until the next attempt: if that one is stored, the
        failure was the batch's own and it is held back on its own back-off; if that one
        fails too, the sink is down and everything waits (the held-back suspect included,
        so an outage's batches still drain in arrival order).
        """
        assert self._spool is not None
        suspect: str | None = None  # spool id of a batch that just failed
        now = time.monotonic()
        for spool_id in self._spool.ids():
            hold = self._holds.get(spool_id)
            if hold is not None and not force and now < hold.next_attempt_at:
                continue
            batch = self._spool.load(spool_id)
            if batch is None:  # unreadable, set aside by the spool
                self._holds.pop(spool_id, None)
                continue
            outcome = await self._try_send(batch)
            if outcome == "failed":
                if suspect is not None:
                    self._sink_down()
                    return
                suspect = spool_id
                continue
            if outcome == "stored":
                self._spool.remove(batch)
            self._holds.pop(spool_id, None)
            if suspect is not None:
                self._hold_back(suspect)
                suspect = None
            self._update_spool_gauges()
        while unsent:
            outcome = await self._try_send(unsent[0])
            if outcome == "failed" and suspect is not None:
                self._sink_down()
                return  # the caller spools the rest
            batch = unsent.popleft()
            self._sending -= len(batch.observations)
            if outcome == "failed":
                suspect = self._spool_batch(batch)
                continue
            if suspect is not None:
                self._hold_back(suspect)
                suspect = None
        if suspect is not None:
            # Nothing after it to tell a bad batch from a bad sink: assume the sink.
            self._sink_down()

    async def _try_send(self, batch: SpooledBatch) -> Literal["stored", "rejected", "failed"]:
        """Hand ``batch`` to the sink; a rejected batch is already set aside on return."""
        assert self._spool is not None
        try:
            await asyncio.wait_for(
                self._sink.write(batch.observations, batch.heartbeat), self._write_timeout_s
            )
        except SinkRejected as exc:
            count = len(batch.observations)
            self.stats.rejected_observations += count
            self.stats.rejected_batches += 1
            self.stats.last_error = str(exc)
            where = self._spool.reject(batch, reason=f"{exc.reason}\n\n{exc.body}")
            log.error(
                "REJECTED a batch of %d observations for good: %s; problem: %s; set aside in %s",
                count,
                exc.reason,
                exc.body or "(no body)",
                where,
            )
            return "rejected"
        except Exception as exc:
            self.stats.delivery_failures += 1
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.stats.last_error = reason
            if batch.spool_id is not None and batch.spool_id in self._holds:
                self._holds[batch.spool_id].last_error = reason
            self._last_failure = reason
            return "failed"
        self._note_success(batch)
        return "stored"

    def _note_success(self, batch: SpooledBatch) -> None:
        if self._consecutive_failures:
            log.info("sink is back after %d failed attempts", self._consecutive_failures)
        self._consecutive_failures = 0
        self._next_attempt_at = 0.0
        self.stats.delivered_observations += len(batch.observations)
        self.stats.delivered_batches += 1

    def _backoff_s(self, attempts: int) -> float:
        delay_ms = min(self._backoff_max_ms, self._backoff_initial_ms << min(attempts - 1, 30))
        # Jitter, so that many agents (or many held batches) do not all retry at once.
        return delay_ms / 1000 * random.uniform(0.8, 1.2)

    def _sink_down(self) -> None:
        self._consecutive_failures += 1
        delay_s = self._backoff_s(self._consecutive_failures)
        self._next_attempt_at = time.monotonic() + delay_s
        log.warning(
            "sink failed (%s); keeping observations in the spool, next attempt in %.1f s",
            self._last_failure,
            delay_s,
        )

    def _hold_back(self, spool_id: str) -> None:
        """The batch ``spool_id`` failed while the next one was stored: retry it on its own."""
        hold = self._holds.get(spool_id)
        if hold is None:
            hold = self._holds[spool_id] = _Hold(last_error=self._last_failure)
        hold.attempts += 1
        hold.next_attempt_at = time.monotonic() + self._backoff_s(hold.attempts)
        self.stats.held_batches = len(self._holds)
        if hold.attempts == 1:
            # Once per batch: a batch held for hours must not fill the log.
            log.warning(
                "spooled batch %s failed while later batches were stored (%s); holding it "
                "back and retrying it with back-off while the others go through",
                spool_id,
                self._last_failure,
            )
        else:
            log.debug("held batch %s failed again (%d attempts)", spool_id, hold.attempts)

    def _spool_batch(self, batch: SpooledBatch) -> str | None:
        """Spool ``batch``; its spool id, or None when refused (logged and counted)."""
        assert self._spool is not None
        try:
            spool_id = self._spool.append(batch)
            if spool_id is not None:
                return spool_id
            why = f"SPOOL FULL ({self._spool.bytes_used} bytes)"
        except OSError as exc:
            # The disk itself failed (full, read-only): the same refusal, said as loudly.
            why = f"SPOOL WRITE FAILED ({exc})"
        count = len(batch.observations)
        self.stats.refused_observations += count
        log.error(
            "%s with %d observations waiting: refused %d new observations%s; "
            "the sink has been failing: %s",
            why,
            self._spool.observations,
            count,
            " and a heartbeat" if batch.heartbeat is not None else "",
            self.stats.last_error,
        )
        return None

    def _update_spool_gauges(self) -> None:
        if self._spool is not None:
            self.stats.held_batches = len(self._holds)
            self.stats.spooled_observations = self._spool.observations
            self.stats.spool_bytes = self._spool.bytes_used
