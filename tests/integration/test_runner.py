"""The probe runner against real HTTP servers on loopback: spreading, isolation, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from test_runner_servers import ResultsReceiver, TinyHttpServer, probe_target

from app.catalog.model import HttpCheck
from probes.base import Check, ProbeContext, ProbeResult
from probes.runner import ProbeRunner, misfire_grace_ms, next_grid_ms, schedule_offset_ms
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord

REPO = Path(__file__).resolve().parents[2]


class CollectingSink:
    """An in-process sink that keeps what it is given (the store's place in these tests)."""

    def __init__(self) -> None:
        self.observations: list[ObservationRecord] = []
        self.heartbeats: list[Heartbeat] = []

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        self.observations.extend(observations)
        if heartbeat is not None:
            self.heartbeats.append(heartbeat)


def http_check(key: str, url: str, *, interval_ms: int, timeout_ms: int) -> HttpCheck:
    return HttpCheck(
        id=key.rsplit("/", 1)[1], key=key, interval_ms=interval_ms, timeout_ms=timeout_ms, url=url
    )


def test_offsets_are_stable_and_spread_over_the_interval() -> None:
    interval_ms = 10_000
    keys = [f"system-{n % 5}/service-{n}/http" for n in range(1000)]
    offsets = [schedule_offset_ms(key, interval_ms) for key in keys]
    assert offsets == [schedule_offset_ms(key, interval_ms) for key in keys]
    assert all(0 <= offset < interval_ms for offset in offsets)
    # 1000 checks over 100 buckets of 100 ms: a uniform spread puts ~10 in each.
    buckets = [0] * 100
    for offset in offsets:
        buckets[offset // 100] += 1
    assert max(buckets) <= 25
    assert len(set(offsets)) > 950


def test_the_next_grid_point_is_on_the_grid_and_within_an_interval() -> None:
    interval_ms = 10_000
    for offset_ms in (0, 1, 4_321, 9_999):
        for now_ms in (1_764_000_000_000, 1_764_000_004_321, 1_764_000_009_999):
            due_ms = next_grid_ms(now_ms, offset_ms, interval_ms)
            assert now_ms <= due_ms < now_ms + interval_ms
            assert (due_ms - offset_ms) % interval_ms == 0
    # A grid point that is now is due now, not an interval later.
    assert next_grid_ms(1_764_000_004_321, 4_321, interval_ms) == 1_764_000_004_321


async def test_late_grid_ticks_coalesce_and_a_tick_past_its_grace_is_skipped() -> None:
    """A busy loop may run a check's timer late: one probe for the latest grid point, and
    a tick later than its grace is counted as missed, never probed late."""
    interval_ms = 1_500  # a grace of 1 s: a tick can be late within the interval yet missed
    assert misfire_grace_ms(interval_ms) == 1_000
    check = http_check("a/b/http", "http://127.0.0.1:9/", interval_ms=interval_ms, timeout_ms=500)
    lags: list[float] = []

    async def instant(check: Check, ctx: ProbeContext) -> ProbeResult:
        return ProbeResult(True, 1.0)

    runner = ProbeRunner(
        [check], CollectingSink(), "tokyo", probe=instant,
        on_schedule_lag=lambda _, lag_ms: lags.append(lag_ms),
    )  # fmt: skip
    now_ms = runner._now_ms()
    # Three grid points missed and 200 ms into the fourth: one probe, for that one, and the
    # next tick is the grid point after it.
    next_ms = runner._grid_tick(check.key, now_ms - 3 * interval_ms - 200)
    await asyncio.gather(*runner._in_flight.values())
    assert runner.stats.probes_finished == 1 and runner.stats.ticks_missed == 0
    assert 200 <= lags[0] < 1_000
    assert next_ms == now_ms - 200 + interval_ms
    # 1.2 s late: past the grace, skipped and counted; the next grid point stays on the grid.
    due_ms = runner._now_ms() - 1_200
    assert runner._grid_tick(check.key, due_ms) == due_ms + interval_ms
    assert runner.stats.ticks_missed == 1 and not runner._in_flight
    assert runner.stats.probes_finished == 1


async def test_200_hanging_targets_do_not_stop_a_healthy_check() -> None:
    """The healthy check keeps being probed, and passes, while 200 others hang.

    How close to its grid it stays (gaps, schedule lag) is a figure, printed by
    ``bench/runner_isolation.py``, not asserted here.
    """
    target = TinyHttpServer(probe_target)
    await target.start()
    # Each hanging probe holds a connection for 90 % of its interval until it times out.
    hanging = [
        http_check(
            f"hanging/target-{n}/http",
            f"{target.base_url}/hang/{n}",
            interval_ms=1_000,
            timeout_ms=900,
        )
        for n in range(200)
    ]
    healthy = http_check(
        "healthy/main/http", f"{target.base_url}/ok", interval_ms=500, timeout_ms=450
    )
    sink = CollectingSink()
    writer = BatchingWriter(sink, flush_interval_ms=200)
    runner = ProbeRunner([*hanging, healthy], writer, "tokyo")

    def healthy_results() -> list[ObservationRecord]:
        return [
            record
            for record in sink.observations
            if record.check == healthy.key and not record.end_of_observation
        ]

    def timeouts() -> int:
        return sum(
            1
            for record in sink.observations
            if record.check.startswith("hanging/") and not record.end_of_observation
        )

    try:
        await runner.start()
        # Until every hanging target has timed out twice and the healthy one has been
        # probed five times, within a deadline far beyond what a busy machine needs.
        deadline = asyncio.get_running_loop().time() + 60
        while len(healthy_results()) < 5 or timeouts() < 2 * 200:
            assert asyncio.get_running_loop().time() < deadline, (
                f"after 60 s: {len(healthy_results())} healthy results, {timeouts()} timeouts"
            )
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
        await target.stop()

    # The clean stop added one end-of-observation mark per check after the results.
    marks = [record for record in sink.observations if record.end_of_observation]
    assert len(marks) == 201
    assert all(record.ok for record in healthy_results()), "the healthy target failed"
    hanging_details = {
        record.detail
        for record in sink.observations
        if record.check.startswith("hanging/") and not record.end_of_observation
    }
    assert hanging_details == {"timeout"}
    assert sink.heartbeats and sink.heartbeats[-1].location == "tokyo"


AGENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from app.catalog.model import Catalog
    from probes.runner import run_probe_agent
    from probes.sink import HttpPushSink

    target_url, receiver_url, spool_dir = sys.argv[1:4]
    checks = [
        {"id": "http", "key": f"sim/svc-{n}/http", "type": "http", "interval_ms": 500,
         "timeout_ms": 450, "url": f"{target_url}/ok/{n}"}
        for n in range(5)
    ]
    catalog = Catalog.model_validate({"systems": [{
        "id": "sim", "name": {"ja": "模擬", "en": "Simulated"}, "target": "0.999",
        "services": [
            {"id": f"svc-{n}", "system_id": "sim", "name": {"ja": "s", "en": "s"},
             "target": "0.999", "checks": [checks[n]]}
            for n in range(5)
        ]}]})

    async def main():
        async with HttpPushSink(receiver_url, "agent-token") as sink:
            # Nothing is flushed on a timer during the test, neither by the flush nor by a
            # heartbeat (each is sent at once): only SIGTERM flushes.
            await run_probe_agent(catalog, "osaka", sink, Path(spool_dir),
                                  flush_interval_ms=600_000, heartbeat_interval_ms=600_000)
        print("flushed", flush=True)

    asyncio.run(main())
    """
)


async def test_sigterm_flushes_pending_observations(tmp_path: Path) -> None:
    target = TinyHttpServer(probe_target)
    await target.start()
    receiver = ResultsReceiver()
    await receiver.start()
    assert receiver.server is not None
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AGENT_SCRIPT,
        target.base_url,
        receiver.server.base_url,
        str(tmp_path / "spool"),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait until the agent has probed for a while (5 checks every 500 ms); the probe
        # timeout is generous so that a busy machine does not turn a probe into a failure.
        for _ in range(300):
            await asyncio.sleep(0.1)
            if target.requests >= 20 or agent.returncode is not None:
                break
        if agent.returncode is not None:
            raise AssertionError((await agent.communicate())[1].decode()[-3000:])
        assert target.requests >= 20, "the agent did not start probing"
        # Nothing went on a timer: the one delivery so far is the start-up heartbeat's,
        # sent at once (with the first results, if any had come in by then).
        assert len(receiver.heartbeats) == 1, "a delivery before SIGTERM"
        pending = target.requests - len(receiver.stored)
        assert pending > 0, "no result waited for SIGTERM"
        agent.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(agent.communicate(), 15)
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
        await receiver.stop()
        await target.stop()

    assert agent.returncode == 0, stderr.decode()[-2000:]
    assert b"flushed" in stdout
    results = [item for item in receiver.stored.values() if "end_of_observation" not in item]
    marks = [item for item in receiver.stored.values() if "end_of_observation" in item]
    # Every request the target answered became an observation at the receiver.
    assert len(results) == target.requests
    assert receiver.duplicates == 0
    assert all(item["ok"] is True for item in results)
    assert {item["location"] for item in receiver.stored.values()} == {"osaka"}
    # A clean stop sends one end-of-observation mark per check, at the instant it stopped,
    # after every result.
    assert sorted(str(mark["check"]) for mark in marks) == [f"sim/svc-{n}/http" for n in range(5)]
    assert all(set(mark) == {"check", "location", "observed_at", "end_of_observation"}
               for mark in marks)  # fmt: skip
    assert len({mark["observed_at"] for mark in marks}) == 1
    stopped_at = datetime.fromisoformat(str(marks[0]["observed_at"]))
    assert all(datetime.fromisoformat(str(item["observed_at"])) <= stopped_at for item in results)
    assert receiver.heartbeats and receiver.heartbeats[-1]["location"] == "osaka"
    # Nothing left behind in the spool: it was all delivered.
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    observed = [datetime.fromisoformat(str(key[2])) for key in receiver.stored]
    assert all(instant.utcoffset() is not None for instant in observed)


def test_kadou_probe_freezes_its_setup_and_collects_young_objects_less_often() -> None:
    # In a child process: the tuning is process-wide, and this test process must keep its own.
    code = textwrap.dedent(
        """
        import gc
        from probes.runner import GC_YOUNG_THRESHOLD, settle_heap_for_probing
        before = gc.get_threshold()
        settle_heap_for_probing()
        after = gc.get_threshold()
        assert after == (GC_YOUNG_THRESHOLD, *before[1:]), (before, after)
        assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
