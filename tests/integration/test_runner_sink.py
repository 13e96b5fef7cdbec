"""Agent mode end to end: HttpPushSink + BatchingWriter + the disk spool, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_runner_servers import ResultsReceiver, TinyHttpServer, free_port, probe_target

from app.catalog.model import HttpCheck
from app.metrics import PROBE_REGISTRY
from probes.base import Check, ProbeResult
from probes.runner import ProbeRunner
from probes.sink import BatchingWriter, HttpPushSink, ObservationRecord
from probes.spool import decode_batch

T0 = datetime(2025, 10, 15, 3, 0, tzinfo=UTC)


def record(check: str, second: int, ok: bool = True) -> ObservationRecord:
    return ObservationRecord(
        check=check,
        location="osaka",
        observed_at=T0 + timedelta(seconds=second),
        ok=ok,
        latency_ms=1.5 if ok else None,
        detail=None if ok else "status 503",
    )


def fast_writer(sink: HttpPushSink, spool_dir: Path, **options: int) -> BatchingWriter:
    return BatchingWriter(
        sink,
        spool_dir,
        flush_interval_ms=200,
        backoff_initial_ms=100,
        backoff_max_ms=400,
        close_timeout_ms=3_000,
        **options,
    )


def spooled_files(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("*.jsonl"))


async def test_outage_and_restarts_lose_nothing_and_keep_the_order(tmp_path: Path) -> None:
    target = TinyHttpServer(probe_target)
    await target.start()
    receiver = ResultsReceiver(mode="busy")
    server = await receiver.start()
    url, port = server.base_url, server.port
    spool_dir = tmp_path / "spool"
    checks = [
        HttpCheck(
            id="http",
            key=f"sim/svc-{n}/http",
            interval_ms=200,
            timeout_ms=150,
            url=f"{target.base_url}/ok/{n}",
        )
        for n in range(3)
    ]
    produced: list[str] = []

    def count(check: Check, result: ProbeResult) -> None:
        produced.append(check.key)

    async def run_agent_for(seconds: float) -> None:
        async with HttpPushSink(url, receiver.token, timeout_ms=1_000) as sink:
            runner = ProbeRunner(
                checks,
                fast_writer(sink, spool_dir),
                "osaka",
                heartbeat_interval_ms=300,
                on_result=count,
            )
            await runner.start()
            await asyncio.sleep(seconds)
            await runner.stop()

    try:
        # 1. The server answers 503 (its database is down): everything is spooled.
        await run_agent_for(1.2)
        assert receiver.refused_posts > 0
        assert not receiver.stored
        after_busy = spooled_files(spool_dir)
        assert after_busy and len(produced) >= 12

        # 2. The server is gone (connection refused); a restarted agent keeps spooling behind.
        await receiver.stop()
        await run_agent_for(1.0)
        after_down = spooled_files(spool_dir)
        assert after_down[: len(after_busy)] == after_busy
        assert len(after_down) > len(after_busy)
        before_recovery = datetime.now(UTC)
        produced_before_recovery = len(produced)

        # 3. The server is back on the same port; the next agent run delivers it all.
        receiver.mode = "accept"
        await receiver.start(port)
        await run_agent_for(1.0)
    finally:
        await receiver.stop()
        await target.stop()

    assert len(produced) > produced_before_recovery
    marks = [key for key, item in receiver.stored.items() if "end_of_observation" in item]
    # Everything, once: every probe made is stored, and none was sent twice; each of the
    # three clean stops sent one end-of-observation mark per check.
    assert len(receiver.stored) - len(marks) == len(produced)
    assert len(marks) == 3 * len(checks)
    assert receiver.duplicates == 0
    assert not spooled_files(spool_dir)
    # In order: per check by observed_at, and all the outage's observations before any newer.
    arrivals = [datetime.fromisoformat(observed_at) for _, _, observed_at in receiver.arrival_order]
    for check in checks:
        times = [
            datetime.fromisoformat(key[2]) for key in receiver.arrival_order if key[0] == check.key
        ]
        assert times == sorted(times) and len(set(times)) == len(times)
    first_new = next(n for n, at in enumerate(arrivals) if at >= before_recovery)
    assert all(at < before_recovery for at in arrivals[:first_new])
    assert all(at >= before_recovery for at in arrivals[first_new:])
    assert first_new == produced_before_recovery + 2 * len(checks)
    # Heartbeats from the outage were delivered too: the server learns the agent was alive.
    heartbeat_times = [datetime.fromisoformat(str(beat["at"])) for beat in receiver.heartbeats]
    assert any(at < before_recovery for at in heartbeat_times)


async def test_permanent_rejection_is_set_aside_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = ResultsReceiver(mode="busy")
    server = await receiver.start()
    spool_dir = tmp_path / "spool"
    try:
        async with HttpPushSink(server.base_url, receiver.token) as sink:
            writer = fast_writer(sink, spool_dir)
            writer.add(record("sim/good/http", 1))
            writer.add(record("sim/good/http", 2))
            await writer.flush()  # 503: spooled
            writer.add(record("sim/unknown/http", 3, ok=False))
            await writer.flush()  # 503: spooled behind
            assert len(spooled_files(spool_dir)) == 2

            # The server is back but does not know one check: 422 for that batch only.
            receiver.mode = "reject-check:sim/unknown/http"
            writer.add(record("sim/good/http", 4))
            with caplog.at_level(logging.ERROR, logger="probes.sink"):
                await writer.flush()
                writer.add(record("sim/unknown/http", 5))
                await writer.flush()  # rejected straight away, never spooled
                writer.add(record("sim/good/http", 6))
                await writer.start()  # now scraped as this process's writer
                assert dead_letter_metric() == 2
                await writer.aclose()
    finally:
        await receiver.stop()

    stored_seconds = [int(key[2][17:19]) for key in receiver.arrival_order]
    assert stored_seconds == [1, 2, 4, 6]
    assert writer.stats.rejected_observations == 2
    assert not spooled_files(spool_dir)
    rejected = sorted((spool_dir / "rejected").glob("*.jsonl"))
    assert len(rejected) == 2
    set_aside = [decode_batch(path.read_text()) for path in rejected]
    assert [item.observed_at for batch in set_aside for item in batch.observations] == [
        T0 + timedelta(seconds=3),
        T0 + timedelta(seconds=5),
    ]
    reasons = [path.with_suffix(".reason.txt").read_text() for path in rejected]
    assert all("HTTP 422" in reason and "no check sim/unknown/http" in reason for reason in reasons)
    loud = [entry for entry in caplog.records if "REJECTED" in entry.getMessage()]
    assert len(loud) == 2 and "no check sim/unknown/http" in loud[0].getMessage()


async def test_a_full_spool_refuses_new_batches_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nobody listens yet: connection refused
    spool_dir = tmp_path / "spool"
    one_batch = len(json.dumps(record("sim/svc/http", 0).to_json(), ensure_ascii=False)) + 1
    receiver = ResultsReceiver()
    try:
        async with HttpPushSink(f"http://127.0.0.1:{port}", receiver.token) as sink:
            # Room for two batches of ten observations, not three.
            writer = fast_writer(sink, spool_dir, spool_max_bytes=25 * one_batch)
            with caplog.at_level(logging.ERROR, logger="probes.sink"):
                for batch_number in range(4):
                    for n in range(10):
                        writer.add(record("sim/svc/http", batch_number * 10 + n))
                    await writer.flush()
            assert writer.stats.refused_observations == 20
            assert writer.stats.spooled_observations == 20
            assert writer.stats.spool_bytes <= 25 * one_batch
            full = [entry for entry in caplog.records if "SPOOL FULL" in entry.getMessage()]
            assert len(full) == 2 and "refused 10 new observations" in full[0].getMessage()

            await receiver.start(port)
            await writer.aclose()
    finally:
        await receiver.stop()

    # The oldest were kept (an outage's start matters most); the newest were refused.
    assert [int(key[2][17:19]) for key in receiver.arrival_order] == list(range(20))
    assert writer.stats.spooled_observations == 0


async def test_a_poison_batch_does_not_hold_back_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch the server keeps failing on (HTTP 500) waits alone; later batches get through."""
    receiver = ResultsReceiver(mode="busy")
    server = await receiver.start()
    spool_dir = tmp_path / "spool"
    try:
        async with HttpPushSink(server.base_url, receiver.token) as sink:
            writer = fast_writer(sink, spool_dir)
            # Spooled during an outage: the poison batch first, then a good one.
            writer.add(record("sim/poison/http", 1))
            await writer.flush()
            writer.add(record("sim/good/http", 2))
            await writer.flush()
            assert len(spooled_files(spool_dir)) == 2

            # The server is back, but fails on every batch holding the poison check.
            receiver.mode = "crash-check:sim/poison/http"
            await writer.start()
            with caplog.at_level(logging.WARNING, logger="probes.sink"):
                for second in range(3, 9):
                    writer.add(record("sim/good/http", second))
                    await wait_until(lambda n=second: ("sim/good/http", n) in stored(receiver))
            # Retried with back-off (more than once, far fewer times than the cycles run).
            retries = receiver.refused_posts
            assert retries >= 2
            assert len(spooled_files(spool_dir)) == 1
            held = [entry for entry in caplog.records if "holding it back" in entry.getMessage()]
            assert len(held) == 1 and "HTTP 500" in held[0].getMessage()

            # Once the server is fixed, the held batch is delivered too.
            receiver.mode = "accept"
            await wait_until(lambda: ("sim/poison/http", 1) in stored(receiver))
            await writer.aclose()
    finally:
        await receiver.stop()

    assert not spooled_files(spool_dir)
    assert receiver.duplicates == 0
    good = [int(key[2][17:19]) for key in receiver.arrival_order if key[0] == "sim/good/http"]
    assert good == list(range(2, 9))


def stored(receiver: ResultsReceiver) -> set[tuple[str, int]]:
    return {(check, int(observed_at[17:19])) for check, _, observed_at in receiver.stored}


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def dead_letter_metric() -> float:
    text = generate_latest(PROBE_REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kadou_agent_dead_letter_total":
                return sample.value
    raise AssertionError("kadou_agent_dead_letter_total is not exported")
