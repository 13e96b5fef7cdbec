"""retry_interval: a check whose last probe failed is probed every retry_interval, not interval.

The real runner probes the real simulator on loopback; faults are set in the simulator's
fault table (so the fault log is exact) and the test waits on conditions. Time is scaled
down: interval 3 s, retry_interval 250 ms. The bounds asserted are loose (half an
interval) so that a loaded machine cannot fail them; the precise figures are
bench/accuracy.py's.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.catalog.model import HttpCheck
from probes.base import Check, ProbeContext, ProbeResult
from probes.protocols import run_probe
from probes.runner import ProbeRunner, run_probe_agent
from probes.simulator.server import SimulatorServer
from probes.sink import Heartbeat, ObservationRecord
from tests.support.catalogs import one_service_catalog

SERVICE = "jpki/main"
INTERVAL_S = 3.0
RETRY_S = 0.25


@dataclass
class Probe:
    started: float  # time.monotonic()
    ended: float
    ok: bool


class Recorder:
    """The probe function, wrapped: when each probe ran and what it found."""

    def __init__(self) -> None:
        self.probes: list[Probe] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, check: Check, ctx: ProbeContext) -> ProbeResult:
        started = time.monotonic()
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            result = await run_probe(check, ctx)
        finally:
            self.running -= 1
        self.probes.append(Probe(started, time.monotonic(), result.ok))
        return result

    def since(self, instant: float) -> list[Probe]:
        return [probe for probe in self.probes if probe.started >= instant]


class NullSink:
    async def write(
        self, observations: list[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        return None


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as server:
        yield server


def check(url: str, *, timeout_ms: int = 200, retry_ms: int = int(RETRY_S * 1000)) -> HttpCheck:
    return HttpCheck(
        id="http",
        key=f"{SERVICE}/http",
        interval_ms=int(INTERVAL_S * 1000),
        timeout_ms=timeout_ms,
        retry_interval_ms=retry_ms,
        confirm=2,
        url=url,
    )


async def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_failures_are_retried_fast_and_success_returns_to_the_grid(
    simulator: SimulatorServer,
) -> None:
    recorder = Recorder()
    retries: list[str] = []
    runner = ProbeRunner(
        [check(simulator.main_url(SERVICE))],
        NullSink(),
        "tokyo",
        probe=recorder,
        on_retry=lambda c: retries.append(c.key),
    )
    await runner.start()
    try:
        await wait_until(lambda: any(p.ok for p in recorder.probes))
        # The fault starts right after a healthy probe: the grid's next one is ~3 s away.
        simulator.faults.set(SERVICE, "error")
        fault_began = time.monotonic()
        await wait_until(lambda: len(recorder.since(fault_began)) >= 4)
        failing = recorder.since(fault_began)[:4]
        assert not any(p.ok for p in failing)
        gaps = [b.started - a.started for a, b in itertools.pairwise(failing)]
        # Retried every retry_interval (0.25 s), not every interval (3 s): the failure was
        # confirmed (confirm: 2) one retry after the first failed probe.
        assert max(gaps) < INTERVAL_S / 2, gaps

        simulator.faults.clear(SERVICE)
        fault_ended = time.monotonic()
        await wait_until(lambda: any(p.ok for p in recorder.since(fault_ended)))
        first_ok = next(p for p in recorder.since(fault_ended) if p.ok)
        # The end is seen on the retry cadence too.
        assert first_ok.started - fault_ended < INTERVAL_S / 2

        # Then back on the grid: the next probes are an interval apart.
        await wait_until(lambda: len(recorder.since(first_ok.started)) >= 3)
        after = recorder.since(first_ok.started)[:3]
        assert all(p.ok for p in after)
        # (The first grid point may come at any moment after the success; the next is a
        # whole interval later.)
        assert after[2].started - after[1].started > INTERVAL_S * 0.8
    finally:
        await runner.stop()
    # Every retry probe is counted once, and retried probes are the probes after a failure.
    assert runner.stats.retry_probes == len(retries) >= 4
    assert recorder.most_at_once == 1


async def test_never_two_probes_of_a_check_at_once(simulator: SimulatorServer) -> None:
    # Retries every 100 ms against a target that hangs for the whole 500 ms timeout.
    recorder = Recorder()
    runner = ProbeRunner(
        [check(simulator.main_url(SERVICE), timeout_ms=500, retry_ms=100)],
        NullSink(),
        "tokyo",
        probe=recorder,
        initial_failing=[f"{SERVICE}/http"],
    )
    simulator.faults.set(SERVICE, "timeout")
    await runner.start()
    try:
        await wait_until(lambda: len(recorder.probes) >= 4)
    finally:
        await runner.stop()
    assert recorder.most_at_once == 1
    probes = sorted(recorder.probes, key=lambda p: p.started)
    assert all(b.started >= a.ended for a, b in itertools.pairwise(probes))
    assert not any(p.ok for p in probes)


async def test_an_agent_restart_keeps_probing_a_failing_check_fast(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    from app.catalog import parse_catalog

    text = one_service_catalog(
        simulator.main_url(SERVICE), interval="1h", timeout="200ms", extra="retry_interval: 250ms"
    )
    catalog = parse_catalog(text, "agent")
    spool_dir = tmp_path / "spool"
    simulator.faults.set(SERVICE, "error")
    results: list[tuple[datetime, bool]] = []

    async def run_until(condition: Callable[[], bool]) -> None:
        stop = asyncio.Event()

        def on_result(_check: Check, result: ProbeResult) -> None:
            results.append((datetime.now(UTC), result.ok))

        agent = asyncio.create_task(
            run_probe_agent(
                catalog, "osaka", NullSink(), spool_dir, stop_event=stop, on_result=on_result
            )
        )
        try:
            await wait_until(condition)
        finally:
            stop.set()
            await agent

    # An hourly grid would not probe within the test: the first run is told the check was
    # failing at its last stop (the state file an earlier run left).
    spool_dir.mkdir(parents=True)
    (spool_dir / "failing-checks.json").write_text('["jpki/main/http"]')
    await run_until(lambda: len(results) >= 2)
    # Stopped while failing: the state is kept beside the spool, and the next run probes
    # the check at once and every retry_interval, not an hour later.
    first_run = len(results)
    await run_until(lambda: len(results) >= first_run + 2)
    assert not any(ok for _, ok in results)
    simulator.faults.clear(SERVICE)
    await run_until(lambda: any(ok for _, ok in results))
    # Up again: the next start waits for the hourly grid (no state left).
    assert (spool_dir / "failing-checks.json").read_text() == "[]"
