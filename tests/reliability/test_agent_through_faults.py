"""An agent pushing to the server through a bad network: every observation arrives once.

The agent (``run_probe_agent`` with an ``HttpPushSink``) probes a local target and pushes to
a results endpoint that deduplicates on ``(check, location, observed_at)`` as the server
does, through a fault proxy. The network first swallows everything (a black hole: the
requests sent meanwhile are delivered late, after the agent gave up on them, so the
receiver may store batches that the agent will send again), then cuts connections
mid-request, then heals. After that, every observation the agent made must be stored,
each exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from app.catalog import parse_catalog
from probes.base import Check, ProbeResult
from probes.runner import run_probe_agent
from probes.sink import HttpPushSink, writer_statuses
from tests.integration.test_runner_servers import ResultsReceiver, TinyHttpServer, probe_target
from tests.support.catalogs import one_service_catalog
from tests.support.faultproxy import FaultProxy, Mode

CHECK_IDS = ("http", "http2", "http3")
BLACK_HOLE_SECONDS = 6.0
CUT_SECONDS = 4.0
# Bounds on the waits below, not performance goals: after ~10 s of failures the writer's
# back-off may wait up to ~16 s (jittered) before it tries again.
DRAIN_WITHIN = 40.0


async def wait_for(condition: Callable[[], bool], what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


def delivered(receiver: ResultsReceiver) -> Counter[str]:
    """Observations stored per check (the runner's end-of-observation marks aside)."""
    return Counter(
        str(item["check"])
        for item in receiver.stored.values()
        if item.get("end_of_observation") is not True
    )


async def test_every_observation_arrives_once_through_a_black_hole_and_cuts(
    tmp_path: Path,
) -> None:
    target = TinyHttpServer(probe_target)
    await target.start()
    receiver = ResultsReceiver()
    await receiver.start()
    assert receiver.server is not None
    proxy = FaultProxy("127.0.0.1", receiver.server.port)
    catalog = parse_catalog(
        one_service_catalog(
            f"{target.base_url}/ok", interval="200ms", timeout="150ms", check_ids=CHECK_IDS
        ),
        "agent",
    )
    made: Counter[str] = Counter()

    def on_result(check: Check, _result: ProbeResult) -> None:
        made[check.key] += 1

    stop = asyncio.Event()
    try:
        async with HttpPushSink(
            f"http://127.0.0.1:{proxy.port}", receiver.token, timeout_ms=1_000
        ) as sink:
            agent = asyncio.create_task(
                run_probe_agent(
                    catalog,
                    "osaka",
                    sink,
                    tmp_path / "spool",
                    stop_event=stop,
                    flush_interval_ms=200,
                    on_result=on_result,
                )
            )
            await wait_for(lambda: sum(delivered(receiver).values()) >= 6, "first pushes", 20)

            proxy.mode = Mode.BLACK_HOLE
            await asyncio.sleep(BLACK_HOLE_SECONDS)  # the fault's length, not a wait
            # The fault was felt: pushes timed out and their batches wait in the spool.
            assert sum(s.spooled for s in writer_statuses() if s.name == "agent") > 0
            # Each connection passes a few requests, then is reset mid-request.
            proxy.cut_after = 1500
            proxy.mode = Mode.CUT
            await asyncio.sleep(CUT_SECONDS)  # the fault's length, not a wait
            proxy.mode = Mode.PASS

            # What was made until now arrives once the network heals (spool drained).
            until_now = Counter(made)
            await wait_for(
                lambda: delivered(receiver) >= until_now, "the outage's results", DRAIN_WITHIN
            )
            stop.set()
            await asyncio.wait_for(agent, timeout=DRAIN_WITHIN)
        statuses = {status.name: status for status in writer_statuses()}
        assert "agent" not in statuses or statuses["agent"].dropped == 0
        assert not (tmp_path / "spool" / "rejected").exists()  # no dead letters

        # Every observation made is stored, exactly once: the duplicates that the late
        # black-holed requests and the retries caused were recognised, not stored again.
        assert delivered(receiver) == made
        assert len(receiver.arrival_order) == len(set(receiver.arrival_order))
        assert not list((tmp_path / "spool").glob("*.jsonl"))
    finally:
        stop.set()
        proxy.close()
        await receiver.stop()
        await target.stop()
