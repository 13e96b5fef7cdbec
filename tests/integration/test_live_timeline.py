"""Probes → store → timeline, live: the real runner probing the real simulator on loopback.

An injected error becomes a confirmed outage backdated to the first failed probe; failures
that never reach `confirm` in a row stay blips; the outage is visible within
confirm × interval of the fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.catalog import parse_catalog
from app.evaluation import evaluate_period
from app.runtime import Runtime, open_runtime, upgrade
from app.settings import Settings
from app.sla import periods
from app.sla.timeline import CheckState
from app.store.models import CheckSegment, Observation
from app.store.sink import StoreSink
from app.store.types import to_ms
from probes.runner import ProbeRunner
from probes.simulator.server import SimulatorServer
from tests.support.catalogs import one_service_catalog

CHECK = "jpki/main/http"


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as server:
        yield server


@pytest.fixture
def runtime(simulator: SimulatorServer, tmp_path: Path) -> Runtime:
    url = f"sqlite:///{tmp_path}/live.db"
    upgrade(url)
    catalog = parse_catalog(
        one_service_catalog(simulator.main_url("jpki/main"), extra="confirm: 2"), "live"
    )
    return open_runtime(Settings(database_url=url, location="tokyo"), catalog=catalog)


async def set_fault(simulator: SimulatorServer, fault: str) -> datetime:
    async with httpx.AsyncClient() as client:
        answer = await client.put(f"{simulator.control_url}/jpki/main", json={"fault": fault})
        assert answer.status_code == 200
    return datetime.now(UTC)


def stored(runtime: Runtime, since: datetime) -> list[tuple[datetime, bool]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Observation.observed_at, Observation.ok)
            .where(Observation.check == CHECK, Observation.observed_at >= since)
            .order_by(Observation.observed_at)
        )
        return [(at, ok) for at, ok in rows]


def segments(runtime: Runtime) -> list[tuple[int, int, str]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(CheckSegment).where(CheckSegment.check == CHECK).order_by(CheckSegment.start_at)
        ).scalars()
        return [(to_ms(r.start_at), to_ms(r.end_at), r.state) for r in rows]


async def wait_for(condition: object, timeout_s: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if await asyncio.to_thread(condition):  # type: ignore[arg-type]
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached within {timeout_s} s")


async def test_error_is_a_backdated_outage_and_flaps_stay_blips(
    simulator: SimulatorServer, runtime: Runtime
) -> None:
    runner = ProbeRunner(
        list(runtime.catalog.checks().values()), StoreSink(runtime.sessions, runtime.timeline_params, late=runtime.late_audit),
        "tokyo",
        heartbeat_interval_ms=1000,
    )  # fmt: skip
    await runner.start()
    try:
        started = datetime.now(UTC)
        await wait_for(lambda: len(stored(runtime, started)) >= 3, 10)

        # Every other probe fails: never two failures in a row, so blips and no outage.
        flapping = await set_fault(simulator, "flap")
        await wait_for(lambda: sum(not ok for _, ok in stored(runtime, flapping)) >= 3, 10)
        recovered = await set_fault(simulator, "ok")
        await wait_for(lambda: len(stored(runtime, recovered)) >= 2, 10)
        states = {state for _, _, state in segments(runtime)}
        assert "blip" in states and "down" not in states

        # A real outage: confirmed after two failures, starting at the first one.
        injected = await set_fault(simulator, "error")
        interval_s = 0.5

        def outage_visible() -> bool:
            with runtime.sessions() as session:
                window = periods.custom_range(
                    to_ms(started) - 60_000, to_ms(started) + 3_600_000, "Asia/Tokyo"
                )
                result = evaluate_period(session, runtime.catalog, window)
            return result.for_service("jpki", "main").timeline.down.measure() > 0

        took = await wait_for(outage_visible, 10)
        # confirm × interval, plus one interval of phase and the writer's 1 s flush.
        assert took <= 2 * interval_s + interval_s + 1.0 + 1.0, took
        await set_fault(simulator, "ok")
        ended = datetime.now(UTC)
        await wait_for(lambda: any(ok for at, ok in stored(runtime, ended)), 10)
    finally:
        await runner.stop()

    results = stored(runtime, injected)
    first_failure = next(at for at, ok in results if not ok)
    down = [(start, end) for start, end, state in segments(runtime) if state == CheckState.DOWN]
    assert len(down) == 1
    assert down[0][0] == to_ms(first_failure)  # backdated to the first failed probe
    recovery = next(at for at, ok in results if ok and at > first_failure)
    assert down[0][1] == to_ms(recovery)  # up again from the first success
