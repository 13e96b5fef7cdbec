"""Accuracy: a random fault schedule against the simulator, probed with and without retries.

Prints figures; asserts nothing. Time is scaled down 10x so that a run stays short:
interval 3 s and retry_interval 0.5 s stand for 30 s and 5 s (``--interval``, ``--retry``);
outages last 0.8-9 s (8-90 s at full scale), separated by 6-15 s of health.

The same schedule is applied at the same instants to several simulated services; half of
them are probed with ``retry_interval`` and half without (retry_interval = interval), each
check on its own grid offset, by the real runner in one process. The observations become
timelines through the pure core (``app.sla.timeline.build_segments``, the numbers' one
path) and are compared with the exact fault log:

* start error: the down segment's start − the fault's start (the outage is backdated to
  the first failed probe, so this is how late the first failure was seen);
* end error: the down segment's end (the first success) − the fault's end;
* lost: faults no down segment overlaps (seen as a blip, or not at all);
* downtime: the sum of down time against the truth's.

    python bench/accuracy.py                         # 150 s, seed 1
    python bench/accuracy.py --duration 300 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.catalog.model import HttpCheck  # noqa: E402
from app.sla.timeline import CheckState, Observation, build_segments  # noqa: E402
from probes.runner import ProbeRunner  # noqa: E402
from probes.simulator.server import SimulatorServer  # noqa: E402
from probes.sink import Heartbeat, ObservationRecord  # noqa: E402

SERVICES = (
    "card-management/main",
    "jpki/main",
    "info-network/main",
    "mynaportal/records",
    "mynaportal/notices",
    "account-registration/main",
)


@dataclass(frozen=True)
class Fault:
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


class Collector:
    def __init__(self) -> None:
        self.observations: dict[str, list[Observation]] = {}

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        for record in observations:
            at_ms = int(record.observed_at.timestamp() * 1000)
            self.observations.setdefault(record.check, []).append(Observation(at_ms, record.ok))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def plan(seed: int, duration_s: float, scale: float) -> list[tuple[float, float]]:
    """(offset from the start, length) in seconds: outages of 8-90 s and gaps of 60-150 s
    at full scale, shortened by ``scale``."""
    rng = random.Random(seed)
    faults = []
    at = 2.0  # let every check see the service up first
    while True:
        at += rng.uniform(60, 150) * scale
        length = rng.uniform(8, 90) * scale
        if at + length > duration_s - 3 * 30 * scale:
            return faults
        faults.append((at, length))
        at += length


async def play(simulator: SimulatorServer, schedule: list[tuple[float, float]]) -> list[Fault]:
    began = time.monotonic()
    log = []
    for offset, length in schedule:
        await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
        for service in SERVICES:
            simulator.faults.set(service, "error")
        start = now_ms()
        await asyncio.sleep(max(0.0, began + offset + length - time.monotonic()))
        for service in SERVICES:
            simulator.faults.clear(service)
        log.append(Fault(start, now_ms()))
    return log


def figures(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"min {ordered[0]:+6.2f}  median {statistics.median(ordered):+6.2f}  "
        f"p90 {p90:+6.2f}  max {ordered[-1]:+6.2f}"
    )


def evaluate(
    label: str,
    keys: list[str],
    collector: Collector,
    faults: list[Fault],
    check: HttpCheck,
    window: tuple[int, int],
    scale: float,
) -> None:
    starts: list[float] = []
    ends: list[float] = []
    lost: list[float] = []
    measured_down = 0
    probes = 0
    for key in keys:
        observations = [o for o in collector.observations.get(key, []) if window[0] <= o.at_ms]
        probes += len(observations)
        segments = build_segments(
            observations, check.confirm, check.stale_after_ms, until_ms=window[1]
        )
        down = [s for s in segments if s.state == CheckState.DOWN]
        measured_down += sum(s.duration_ms for s in down)
        for fault in faults:
            hits = [s for s in down if s.start_ms < fault.end_ms + 1 and s.end_ms > fault.start_ms]
            if not hits:
                lost.append(fault.duration_ms / 1000 / scale)
                continue
            starts.append((hits[0].start_ms - fault.start_ms) / 1000 / scale)
            ends.append((hits[-1].end_ms - fault.end_ms) / 1000 / scale)
    truth = sum(f.duration_ms for f in faults) * len(keys)
    print(f"\n{label}: {len(keys)} checks x {len(faults)} outages, {probes} probes")
    print(f"  start error (s, full scale)  {figures(starts)}")
    print(f"  end error   (s, full scale)  {figures(ends)}")
    print(
        f"  outages lost as blips        {len(lost)} of {len(keys) * len(faults)}"
        + (f" (lasting {', '.join(f'{d:.0f}' for d in sorted(lost))} s)" if lost else "")
    )
    error = (measured_down - truth) / 1000 / scale
    print(
        f"  downtime                     truth {truth / 1000 / scale:.0f} s, measured "
        f"{measured_down / 1000 / scale:.0f} s, error {error:+.0f} s "
        f"({100 * error / (truth / 1000 / scale):+.1f} %)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=3.0, help="seconds (30 s scaled)")
    parser.add_argument("--retry", type=float, default=0.5, help="seconds (5 s scaled)")
    parser.add_argument("--confirm", type=int, default=2)
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scale = args.interval / 30.0
    schedule = plan(args.seed, args.duration, scale)
    print(
        f"interval {args.interval} s, retry_interval {args.retry} s, confirm {args.confirm}; "
        f"time scaled x{scale:g} (figures below at full scale: interval 30 s, retry "
        f"{args.retry / scale:g} s); {len(schedule)} outages of "
        f"{', '.join(f'{length / scale:.0f}' for _, length in schedule)} s"
    )
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as simulator:
        half = len(SERVICES) // 2

        def check(service: str, retry_s: float) -> HttpCheck:
            return HttpCheck(
                id="http",
                key=f"{service}/http",
                interval_ms=int(args.interval * 1000),
                timeout_ms=int(min(1.0, args.interval / 2) * 1000),
                retry_interval_ms=int(retry_s * 1000),
                confirm=args.confirm,
                url=simulator.main_url(service),
            )

        with_retry = [check(service, args.retry) for service in SERVICES[:half]]
        without = [check(service, args.interval) for service in SERVICES[half:]]
        collector = Collector()
        runner = ProbeRunner([*with_retry, *without], collector, "bench")
        await runner.start()
        began = now_ms()
        try:
            faults = await play(simulator, schedule)
            # Let the last outage's end be seen by every check.
            await asyncio.sleep(2 * args.interval)
        finally:
            await runner.stop()
        window = (began, now_ms())
    evaluate(
        f"with retries (retry_interval {args.retry / scale:g} s)",
        [c.key for c in with_retry],
        collector,
        faults,
        with_retry[0],
        window,
        scale,
    )
    evaluate(
        "without retries", [c.key for c in without], collector, faults, without[0], window, scale
    )
    print(f"\nretry probes: {runner.stats.retry_probes} of {runner.stats.probes_started}")


if __name__ == "__main__":
    asyncio.run(main())
