"""Schedule isolation: does a healthy check stay on its grid while many targets hang?

Runs the probe runner in-process against a tiny loopback HTTP server (the one the runner
tests use) with N targets that never answer (each holds its connection until its probe
times out at 90 % of its interval) and one healthy check every 500 ms, for a fixed time.
Prints the healthy check's gaps between probes (the ideal is its interval), the runner's
schedule lag, and how many hanging probes timed out.

    python bench/runner_isolation.py                      # 200 hanging targets, 4 s
    python bench/runner_isolation.py --hanging 1000 --seconds 10

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.catalog.model import HttpCheck  # noqa: E402
from probes.runner import ProbeRunner  # noqa: E402
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord  # noqa: E402
from tests.integration.test_runner_servers import TinyHttpServer, probe_target  # noqa: E402

HEALTHY_INTERVAL_MS = 500


class CollectingSink:
    def __init__(self) -> None:
        self.observations: list[ObservationRecord] = []

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        self.observations.extend(observations)


def check(key: str, url: str, interval_ms: int) -> HttpCheck:
    return HttpCheck(
        id="http", key=key, interval_ms=interval_ms, timeout_ms=interval_ms * 9 // 10, url=url
    )


async def run(hanging_count: int, seconds: float) -> None:
    target = TinyHttpServer(probe_target)
    await target.start()
    hanging = [
        check(f"hanging/target-{n}/http", f"{target.base_url}/hang/{n}", 1_000)
        for n in range(hanging_count)
    ]
    healthy = check("healthy/main/http", f"{target.base_url}/ok", HEALTHY_INTERVAL_MS)
    sink = CollectingSink()
    runner = ProbeRunner([*hanging, healthy], BatchingWriter(sink, flush_interval_ms=200), "b")
    try:
        await runner.start()
        await asyncio.sleep(seconds)
    finally:
        await runner.stop()
        await target.stop()
    times = sorted(r.observed_at for r in sink.observations if r.check == healthy.key)
    gaps = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(times)]
    failed = sum(1 for r in sink.observations if r.check == healthy.key and not r.ok)
    timeouts = sum(1 for r in sink.observations if r.check.startswith("hanging/"))
    lags = sorted(runner.recent_lags_ms)
    print(f"hanging targets          {hanging_count} (timeout 900 ms every 1 s), {seconds:g} s")
    print(
        f"healthy probes           {len(times)} ({failed} failed), interval {HEALTHY_INTERVAL_MS} ms"
    )
    if gaps:
        print(
            f"healthy gaps (ms)        min {min(gaps):.0f}  median {statistics.median(gaps):.0f}"
            f"  max {max(gaps):.0f}"
        )
    if lags:
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"schedule lag (ms)        median {statistics.median(lags):.1f}  p99 {p99:.1f}  max {lags[-1]:.1f}"
        )
    print(f"hanging probes timed out {timeouts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hanging", type=int, default=200, help="targets that never answer")
    parser.add_argument("--seconds", type=float, default=4.2, help="how long to run")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.hanging, arguments.seconds))


if __name__ == "__main__":
    main()
