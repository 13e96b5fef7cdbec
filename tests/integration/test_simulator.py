"""The simulator on real sockets, observed through the http probe and its control API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.catalog.model import HttpCheck
from probes.base import ProbeContext, ProbeResult
from probes.protocols import run_probe
from probes.simulator import (
    DEFAULT_SERVICES,
    FAULT_KINDS,
    ScenarioError,
    SimulatorServer,
    load_scenario,
    parse_duration_ms,
    parse_scenario,
)

SERVICE = "info-network/main"
OTHER = "jpki/main"
DEMO_SCENARIO = Path(__file__).parents[2] / "probes" / "simulator" / "scenarios" / "demo.yaml"


class ManualClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as server:
        yield server


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


@pytest.fixture
async def control(simulator: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{simulator.main_port}/_control"
    ) as client:
        yield client


def probe_of(
    ctx: ProbeContext, url: str, timeout_ms: int = 1_000
) -> Callable[[], Awaitable[ProbeResult]]:
    check = HttpCheck(id="health", interval_ms=60_000, timeout_ms=timeout_ms, url=url)
    return lambda: run_probe(check, ctx)


async def wait_for_detail(
    probe: Callable[[], Awaitable[ProbeResult]], detail: str | None, within_s: float = 1.0
) -> ProbeResult:
    """Probe until the detail is the expected one: listener changes follow time-based
    faults within the simulator's reconcile period."""
    deadline = time.monotonic() + within_s
    while True:
        result = await probe()
        if result.detail == detail or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.02)


async def test_every_default_service_answers_and_unknown_paths_are_404(
    simulator: SimulatorServer, ctx: ProbeContext
) -> None:
    assert simulator.services == DEFAULT_SERVICES
    async with httpx.AsyncClient() as client:
        for service in DEFAULT_SERVICES:
            for url in (simulator.main_url(service), simulator.service_url(service)):
                response = await client.get(url)
                assert response.status_code == 200
                system, name = service.split("/")
                body = response.json()
                assert (body["status"], body["system"], body["service"]) == ("ok", system, name)
                datetime.fromisoformat(body["time"])
        base = f"http://127.0.0.1:{simulator.main_port}"
        assert (await client.get(f"{base}/jpki/other/health")).status_code == 404
        assert (await client.get(f"{base}/nothing")).status_code == 404


async def test_control_api_sets_lists_and_clears_faults(
    simulator: SimulatorServer, control: httpx.AsyncClient, ctx: ProbeContext
) -> None:
    response = await control.put(f"/faults/{SERVICE}", json={"fault": "error"})
    assert response.status_code == 200
    assert response.json()["fault"] == "error"
    listed = (await control.get("/faults")).json()
    assert listed["faults"][SERVICE]["fault"] == "error"
    assert listed["faults"][SERVICE]["source"] == "manual"
    assert set(listed["faults"]) == {SERVICE}
    result = await probe_of(ctx, simulator.service_url(SERVICE))()
    assert result.detail == "status 503"

    assert (await control.delete("/faults")).status_code == 204
    assert (await control.get("/faults")).json()["faults"] == {}
    assert (await probe_of(ctx, simulator.service_url(SERVICE))()).ok


async def test_control_api_rejects_bad_input(control: httpx.AsyncClient) -> None:
    bad_fault = await control.put(f"/faults/{SERVICE}", json={"fault": "broken"})
    assert bad_fault.status_code == 422
    assert "fault" in bad_fault.json()["detail"]
    bad_latency = await control.put(f"/faults/{SERVICE}", json={"fault": "slow", "latency_ms": "x"})
    assert bad_latency.status_code == 422
    unknown = await control.put("/faults/jpki/other", json={"fault": "error"})
    assert unknown.status_code == 404
    assert (await control.get("/faults")).json()["faults"] == {}


async def test_error_slow_and_timeout_as_the_probe_sees_them(
    simulator: SimulatorServer, control: httpx.AsyncClient, ctx: ProbeContext
) -> None:
    probe = probe_of(ctx, simulator.service_url(SERVICE), timeout_ms=400)

    await control.put(f"/faults/{SERVICE}", json={"fault": "error"})
    error = await probe()
    assert (error.ok, error.detail) == (False, "status 503")

    await control.put(f"/faults/{SERVICE}", json={"fault": "slow", "latency_ms": 150})
    slow = await probe()
    assert slow.ok, slow.detail
    assert slow.latency_ms >= 150

    await control.put(f"/faults/{SERVICE}", json={"fault": "timeout"})
    started = time.perf_counter()
    hung = await probe()
    assert (hung.ok, hung.detail) == (False, "timeout")
    assert time.perf_counter() - started < 0.9

    # Other services are not affected.
    assert (await probe_of(ctx, simulator.service_url(OTHER))()).ok


async def test_down_is_connect_refused_on_the_service_port_and_distinct_from_timeout(
    simulator: SimulatorServer, control: httpx.AsyncClient, ctx: ProbeContext
) -> None:
    on_service_port = probe_of(ctx, simulator.service_url(SERVICE), timeout_ms=400)
    on_main_port = probe_of(ctx, simulator.main_url(SERVICE), timeout_ms=400)

    await control.put(f"/faults/{SERVICE}", json={"fault": "down"})
    refused = await on_service_port()
    assert (refused.ok, refused.detail) == (False, "connect refused")
    # Refused at once, not waited out: well inside the timeout even on a busy machine.
    assert refused.latency_ms < 400
    # One listening socket cannot refuse by path: the main port resets instead.
    reset = await on_main_port()
    assert (reset.ok, reset.detail) == (False, "connection reset")
    # The control API and the other services stay reachable.
    assert (await probe_of(ctx, simulator.main_url(OTHER))()).ok
    assert (await probe_of(ctx, simulator.service_url(OTHER))()).ok

    await control.put(f"/faults/{SERVICE}", json={"fault": "timeout"})
    timed_out = await on_service_port()
    assert timed_out.detail == "timeout"

    await control.delete(f"/faults/{SERVICE}")
    assert (await on_service_port()).ok
    assert (await on_main_port()).ok


async def test_flap_alternates(
    simulator: SimulatorServer, control: httpx.AsyncClient, ctx: ProbeContext
) -> None:
    await control.put(f"/faults/{SERVICE}", json={"fault": "flap"})
    probe = probe_of(ctx, simulator.service_url(SERVICE))
    outcomes = [(await probe()).ok for _ in range(6)]
    assert outcomes == [False, True, False, True, False, True]


async def test_for_seconds_clears_the_fault_by_itself(
    simulator: SimulatorServer, control: httpx.AsyncClient, ctx: ProbeContext
) -> None:
    await control.put(f"/faults/{SERVICE}", json={"fault": "error", "for_seconds": 0.3})
    await control.put(f"/faults/{OTHER}", json={"fault": "down", "for_seconds": 0.3})
    error_probe = probe_of(ctx, simulator.service_url(SERVICE))
    down_probe = probe_of(ctx, simulator.service_url(OTHER))
    assert (await error_probe()).detail == "status 503"
    assert (await down_probe()).detail == "connect refused"
    await asyncio.sleep(0.35)
    assert (await error_probe()).ok
    # The listener reopens on the next reconcile tick.
    reopened = await wait_for_detail(down_probe, None)
    assert reopened.ok, reopened.detail
    assert (await control.get("/faults")).json()["faults"] == {}


async def test_scenario_applies_and_clears_on_schedule_and_repeats(ctx: ProbeContext) -> None:
    clock = ManualClock()
    scenario = parse_scenario(
        {
            "repeat": "10m",
            "events": [
                {"at": "+30s", "service": SERVICE, "fault": "error", "for": "5m"},
                {"at": "+1m", "service": OTHER, "fault": "down", "for": "1m"},
            ],
        }
    )
    async with SimulatorServer(
        "127.0.0.1", 0, service_ports=[0] * 7, scenario=scenario, clock=clock, jitter_ms=0
    ) as simulator:
        info = probe_of(ctx, simulator.service_url(SERVICE))
        jpki = probe_of(ctx, simulator.service_url(OTHER))
        assert (await info()).ok

        clock.advance(seconds=31)
        assert (await info()).detail == "status 503"
        faults = simulator.faults.snapshot()["faults"]
        assert faults[SERVICE]["source"] == "scenario"
        assert faults[SERVICE]["until"] == (clock.now + timedelta(seconds=299)).isoformat()

        clock.advance(seconds=40)  # 1m11s: jpki is down too
        assert (await wait_for_detail(jpki, "connect refused")).detail == "connect refused"

        clock.advance(minutes=1)  # 2m11s: jpki back
        assert (await wait_for_detail(jpki, None)).ok
        assert (await info()).detail == "status 503"

        clock.advance(minutes=3, seconds=20)  # 5m31s: the error has ended
        assert (await info()).ok

        clock.advance(minutes=5)  # 10m31s: second cycle
        assert (await info()).detail == "status 503"


async def test_clear_all_ends_a_running_scenario_fault_but_not_later_ones(
    ctx: ProbeContext,
) -> None:
    clock = ManualClock()
    scenario = parse_scenario(
        [
            {"at": "+10s", "service": SERVICE, "fault": "error", "for": "1m"},
            {"at": "+2m", "service": SERVICE, "fault": "error", "for": "1m"},
        ]
    )
    async with SimulatorServer(
        "127.0.0.1", 0, scenario=scenario, clock=clock, jitter_ms=0
    ) as simulator:
        probe = probe_of(ctx, simulator.main_url(SERVICE))
        clock.advance(seconds=20)
        assert (await probe()).detail == "status 503"
        async with httpx.AsyncClient() as client:
            assert (await client.delete(simulator.control_url)).status_code == 204
        assert (await probe()).ok
        clock.advance(minutes=2)
        assert (await probe()).detail == "status 503"


async def test_manual_ok_overrides_the_scenario(ctx: ProbeContext) -> None:
    clock = ManualClock()
    scenario = parse_scenario([{"at": "+0s", "service": SERVICE, "fault": "error"}])
    async with SimulatorServer(
        "127.0.0.1", 0, scenario=scenario, clock=clock, jitter_ms=0
    ) as simulator:
        probe = probe_of(ctx, simulator.main_url(SERVICE))
        assert (await probe()).detail == "status 503"
        simulator.faults.set(SERVICE, "ok")
        assert (await probe()).ok


def test_absolute_times_and_durations() -> None:
    scenario = parse_scenario(
        [
            {
                "at": "2026-10-01T09:00:00+09:00",
                "service": SERVICE,
                "fault": "slow",
                "for": "1h30m",
                "latency_ms": 800,
            }
        ]
    )
    started = datetime(2026, 9, 30, 0, 0, tzinfo=UTC)
    inside = datetime(2026, 10, 1, 1, 29, tzinfo=UTC)  # 10:29 JST
    after = datetime(2026, 10, 1, 1, 30, tzinfo=UTC)
    active = scenario.fault_at(SERVICE, inside, started, started)
    assert active is not None
    assert (active.fault, active.latency_ms) == ("slow", 800)
    assert scenario.fault_at(SERVICE, after, started, started) is None
    assert [parse_duration_ms(text) for text in ("30s", "5m", "1h", "250ms", "1h30m")] == [
        30_000,
        300_000,
        3_600_000,
        250,
        5_400_000,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_ms("5 minutes")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"at": "+1m", "service": SERVICE}], "event 1: field 'fault' is required"),
        ([{"at": "+1m", "service": SERVICE, "fault": "broken"}], "event 1: field 'fault'"),
        ([{"at": "soon", "service": SERVICE, "fault": "error"}], "event 1: field 'at'"),
        ([{"at": "2026-10-01T09:00:00", "service": SERVICE, "fault": "error"}], "time zone"),
        ([{"at": "+1m", "service": "jpki", "fault": "error"}], "system/service"),
        (
            {"repeat": "5m", "events": [{"at": "+6m", "service": SERVICE, "fault": "down"}]},
            "within the repeat period",
        ),
    ],
)
def test_scenario_errors_name_the_event_and_field(document: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(document)


def test_demo_scenario_exercises_the_faults_and_repeats() -> None:
    scenario = load_scenario(DEMO_SCENARIO)
    assert scenario.repeat_ms is not None
    kinds = {event.fault for event in scenario.events}
    assert {"error", "timeout", "flap", "slow"} <= kinds <= set(FAULT_KINDS)
    assert {event.service for event in scenario.events} <= set(DEFAULT_SERVICES)
    assert all(event.offset_ms is not None for event in scenario.events)
