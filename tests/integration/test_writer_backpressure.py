"""Backpressure: when storing falls behind, the writer's memory stays bounded and it spools.

Nothing is dropped without being counted, and the backlog is visible in /metrics and in
``writer_statuses()`` (what /readyz reads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import PROBE_REGISTRY
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord, writer_statuses
from tests.support.api import open_api

T0 = datetime(2025, 10, 15, 3, 0, tzinfo=UTC)


class GatedSink:
    """A store that takes nothing until the gate opens (a database far slower than probing)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.stored: list[datetime] = []

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        await self.gate.wait()
        self.stored.extend(record.observed_at for record in observations)


def record(n: int) -> ObservationRecord:
    return ObservationRecord(
        check=f"sim/svc-{n % 7}/http",
        location="tokyo",
        observed_at=T0 + timedelta(milliseconds=n),
        ok=True,
        latency_ms=1.0,
        detail=None,
    )


def writer_metrics() -> dict[str, float]:
    text = generate_latest(PROBE_REGISTRY).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("kadou_writer_") and sample.labels.get("writer") == "embedded"
    }


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_a_slow_store_fills_the_spool_not_the_memory(tmp_path: Path) -> None:
    sink = GatedSink()
    spool_dir = tmp_path / "spool"
    writer = BatchingWriter(
        sink, spool_dir, flush_interval_ms=50, max_batch=50, max_buffered=200, name="embedded"
    )
    await writer.start()
    try:
        for n in range(2_000):
            writer.add(record(n))
            if n % 100 == 0:
                await asyncio.sleep(0)  # let the writer take a batch, as the runner would
        # Memory holds at most the bound (plus what the blocked write holds); the rest is on disk.
        assert writer.buffered <= 200
        assert writer.stats.spooled_observations >= 2_000 - 200 - 200
        status = next(s for s in writer_statuses() if s.name == "embedded")
        assert status.backlog == 2_000 and status.behind and status.dropped == 0
        metrics = writer_metrics()
        assert metrics["kadou_writer_backlog"] == 2_000
        assert metrics["kadou_writer_dropped_total"] == 0

        sink.gate.set()
        await wait_until(lambda: len(sink.stored) == 2_000)
        await wait_until(lambda: writer.status().backlog == 0)
        assert not writer.status().behind
    finally:
        await writer.aclose()
    assert sorted(sink.stored) == [record(n).observed_at for n in range(2_000)]
    assert not list(spool_dir.glob("*.jsonl"))


async def test_a_full_spool_counts_every_dropped_observation(tmp_path: Path) -> None:
    sink = GatedSink()
    writer = BatchingWriter(
        sink,
        None,  # a memory spool, bounded by count
        flush_interval_ms=50,
        max_batch=50,
        max_buffered=100,
        memory_spool_max_observations=500,
        name="embedded",
    )
    await writer.start()
    try:
        for n in range(2_000):
            writer.add(record(n))
            if n % 100 == 0:
                await asyncio.sleep(0)
        status = writer.status()
        assert status.dropped > 0
        # Everything is accounted for: stored later, waiting now, or counted as dropped.
        assert status.backlog + status.dropped == 2_000
        assert writer_metrics()["kadou_writer_dropped_total"] == status.dropped
        sink.gate.set()
        await wait_until(lambda: writer.status().backlog == 0)
    finally:
        await writer.aclose()
    assert len(sink.stored) + writer.status().dropped == 2_000


async def test_readyz_says_storing_falls_behind(tmp_path: Path, sqlite_url: str) -> None:
    sink = GatedSink()
    writer = BatchingWriter(
        sink, tmp_path / "spool", max_batch=50, max_buffered=100, name="embedded"
    )
    await writer.start()
    try:
        for n in range(400):
            writer.add(record(n))
        for api in open_api(sqlite_url, T0):
            answer = await asyncio.to_thread(api.client.get, "/readyz")
            assert answer.status_code == 200  # the service still serves
            [embedded] = [w for w in answer.json()["writers"] if w["name"] == "embedded"]
            assert embedded["state"] == "behind" and embedded["backlog"] == 400
        sink.gate.set()
    finally:
        await writer.aclose()
