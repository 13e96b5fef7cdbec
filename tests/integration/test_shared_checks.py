"""Two agents at one location share its checks through the server's assignments, and
when one stops the other takes its checks over within the failover bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from app.catalog.loader import parse_catalog
from app.main import create_app
from app.runtime import Runtime, upgrade
from app.settings import Settings
from probes.assignment import CheckAssignment
from probes.base import Check, ProbeResult
from probes.runner import run_probe_agent
from probes.simulator.server import SimulatorServer
from probes.sink import HttpPushSink
from tests.support.api import add_tokens
from tests.support.catalogs import one_service_catalog

HEARTBEAT_MS = 500
BOUND = 20.0


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as server:
        yield server


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
        await asyncio.sleep(0.02)


async def test_agents_share_a_locations_checks_and_hand_them_over(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/kadou.db"
    upgrade(url)
    catalog = parse_catalog(
        one_service_catalog(
            simulator.main_url("jpki/main"), check_ids=tuple(f"http{i}" for i in range(12))
        ),
        "shared",
    )
    runtime = Runtime(Settings(database_url=url), catalog)
    token = add_tokens(runtime)["prober"]
    app = create_app(runtime, metrics_refresh_seconds=None)
    transport = httpx.ASGITransport(app=app)
    keys = sorted(catalog.checks())
    # (monotonic time, check key) of each finished probe, per runner
    probed: dict[str, list[tuple[float, str]]] = {"tokyo-a": [], "tokyo-b": []}
    assignments = {
        runner: CheckAssignment("http://kadou.test", token, "tokyo", transport=transport)
        for runner in probed
    }
    stops = {runner: asyncio.Event() for runner in probed}

    async def agent(runner: str) -> None:
        def on_result(check: Check, _result: ProbeResult) -> None:
            probed[runner].append((time.monotonic(), check.key))

        async with HttpPushSink("http://kadou.test", token, transport=transport) as sink:
            await run_probe_agent(
                catalog,
                "tokyo",
                sink,
                tmp_path / runner,
                stop_event=stops[runner],
                heartbeat_interval_ms=HEARTBEAT_MS,
                flush_interval_ms=100,
                on_result=on_result,
                assignment=assignments[runner],
                runner_id=runner,
            )

    def owners(key: str) -> list[str]:
        return [runner for runner, assignment in assignments.items() if assignment.owns(key)]

    async with app.router.lifespan_context(app):
        tasks = {runner: asyncio.create_task(agent(runner)) for runner in probed}
        try:
            # Both runners heard from the server: every check has exactly one of them.
            await wait_for(
                lambda: (
                    all(a._checks for a in assignments.values())
                    and all(len(owners(key)) == 1 for key in keys)
                ),
                "the two runners split the checks",
            )
            settled = time.monotonic() + 0.5  # a probe started before the split has ended
            await wait_for(
                lambda: (
                    {key for runner in probed for at, key in probed[runner] if at > settled}
                    == set(keys)
                ),
                "every check probed after the split",
            )
            by = {runner: {key for at, key in probed[runner] if at > settled} for runner in probed}
            assert by["tokyo-a"] and by["tokyo-b"], "one runner probes nothing"
            assert not by["tokyo-a"] & by["tokyo-b"], "a check probed by both runners"

            # tokyo-b stops; tokyo-a takes over its checks within the failover bound.
            handed_over = set(by["tokyo-b"])
            stops["tokyo-b"].set()
            await tasks.pop("tokyo-b")
            stopped = time.monotonic()
            await wait_for(
                lambda: handed_over <= {key for at, key in probed["tokyo-a"] if at > stopped},
                "tokyo-a probes tokyo-b's checks",
            )
            first = {
                key: min(at for at, k in probed["tokyo-a"] if k == key and at > stopped)
                for key in handed_over
            }
            gap = max(first.values()) - stopped
            print(f"handover: tokyo-b's {len(handed_over)} checks probed by tokyo-a "
                  f"{gap:.2f} s after it stopped (heartbeat {HEARTBEAT_MS} ms)")  # fmt: skip
            # Liveness ends 1.5 heartbeats after the last beat; the survivor asks once a
            # heartbeat and probes at the check's next grid point (one interval).
            assert gap <= (1.5 + 1 + 1) * HEARTBEAT_MS / 1000 + 1.0
        finally:
            for runner, task in tasks.items():
                stops[runner].set()
                await task
            for assignment in assignments.values():
                await assignment.aclose()
            runtime.engine.dispose()


def test_sharing_checks_needs_a_server_to_assign_them(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    from tests.support.cli import KadouCli

    output = KadouCli(monkeypatch, sqlite_url)("probe", "--share-checks", expect=2)
    assert "--share-checks goes with --push" in output


async def test_the_embedded_runner_leaves_other_runners_checks_alone(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    import app.main
    from app.assignments import assign
    from app.store.db import transaction
    from app.store.ingest import HeartbeatIn, record_heartbeat

    url = f"sqlite:///{tmp_path}/kadou.db"
    upgrade(url)
    catalog = parse_catalog(
        one_service_catalog(
            simulator.main_url("jpki/main"), check_ids=tuple(f"http{i}" for i in range(12))
        ),
        "shared",
    )
    settings = Settings(
        database_url=url,
        location="tokyo",
        share_checks=True,
        runner_id="replica-a",
        spool_dir=tmp_path / "spool",
    )
    runtime = Runtime(settings, catalog)
    keys = sorted(catalog.checks())
    split = assign(keys, ["agent-x", "replica-a"])
    theirs = {key for key, runner in split.items() if runner == "agent-x"}
    mine = set(keys) - theirs
    assert mine and theirs

    def agent_beats() -> None:
        with transaction(runtime.sessions) as session:
            record_heartbeat(
                session, HeartbeatIn("agent-x", "tokyo", datetime.now(UTC), HEARTBEAT_MS)
            )

    probed: list[str] = []
    monkeypatch.setattr(app.main, "EMBEDDED_HEARTBEAT_MS", HEARTBEAT_MS)
    monkeypatch.setattr(app.main, "record_probe", lambda key, *_args: probed.append(key))
    agent_beats()
    server = create_app(runtime, with_probes=True, metrics_refresh_seconds=None)
    async with server.router.lifespan_context(server):
        deadline = time.monotonic() + BOUND
        # agent-x stays alive (beating) while the embedded runner probes its own share.
        while not all(probed.count(key) >= 2 for key in mine):
            assert time.monotonic() < deadline, f"the embedded runner's checks: {probed}"
            await asyncio.to_thread(agent_beats)
            await asyncio.sleep(0.1)
    assert not theirs & set(probed), "the embedded runner probed agent-x's checks"
    runtime.engine.dispose()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--heartbeat-interval", "50ms", "--heartbeat-interval: give 100ms to 10m; got '50ms'"),
        ("--heartbeat-interval", "soon", "--heartbeat-interval: expected a duration"),
        ("--runner-id", " ", "--runner-id: give 1 to 200 characters"),
    ],
)
def test_an_agents_heartbeat_and_runner_id_are_checked(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, option: str, value: str, message: str
) -> None:
    from tests.support.cli import KadouCli

    monkeypatch.setenv("KADOU_AGENT_TOKEN", "a-prober-token")
    output = KadouCli(monkeypatch, sqlite_url)(
        "probe", "--push", "http://127.0.0.1:9/", option, value, expect=2
    )
    assert message in output and "Traceback" not in output


async def test_a_heartbeat_goes_out_at_once_not_at_the_next_flush(tmp_path: Path) -> None:
    """A runner is live for 1.5 heartbeats after its last one: a beat that waited for a
    flush as long as the heartbeat would let a live runner look lost."""
    from collections.abc import Sequence
    from datetime import UTC, datetime

    from probes.sink import BatchingWriter, Heartbeat, ObservationRecord

    received: list[tuple[int, Heartbeat | None]] = []

    class Recorder:
        async def write(
            self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
        ) -> None:
            received.append((len(observations), heartbeat))

    at = datetime.now(UTC)
    # Flushes an hour apart: only the heartbeat itself can make the writer send it.
    writer = BatchingWriter(Recorder(), tmp_path / "spool", flush_interval_ms=3_600_000)
    writer.add(ObservationRecord("jpki/main/http", "tokyo", at, True, 1.0, None))
    await writer.start()
    try:
        await wait_for(lambda: len(received) == 1, "the first cycle sends what was buffered")
        beat = Heartbeat(runner_id="tokyo-1", location="tokyo", at=at, interval_ms=HEARTBEAT_MS)
        writer.heartbeat(beat)
        await wait_for(lambda: len(received) == 2, "the heartbeat is sent")
        assert received[1] == (0, beat)
    finally:
        await writer.aclose()


async def test_a_runner_asks_for_its_checks_at_least_once_a_heartbeat() -> None:
    """Before a runner's first heartbeat has arrived the server does not know its interval
    (it says 10 s); the runner still asks again after its own heartbeat interval."""
    answer = {"checks": ["jpki/main/http0"], "ask_again_seconds": 10.0}
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=answer))
    assignment = CheckAssignment("http://kadou.test", "token", "tokyo", transport=transport)
    assignment.runner_id = "tokyo-1"
    try:
        assert await assignment.refresh()
        assert assignment.ask_again_seconds == 10.0  # no heartbeat given: the server's word
        assignment.heartbeat_interval_s = HEARTBEAT_MS / 1000
        assert await assignment.refresh()
        assert assignment.ask_again_seconds == HEARTBEAT_MS / 1000
        answer["ask_again_seconds"] = 0.2  # another runner there beats faster: follow it
        assert await assignment.refresh()
        assert assignment.ask_again_seconds == 0.2
    finally:
        await assignment.aclose()
