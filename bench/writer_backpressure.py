"""Backpressure: the probe runner's writer fed at twice the rate its store can take.

Prints figures; asserts nothing. On a fresh SQLite database (the embedded store,
``StoreSink`` → ``store_observations``) with one live-shaped result per check:

1. calibration: batches of 500 written straight to the store for a few seconds give the
   sustainable rate (observations/s);
2. overload: a ``BatchingWriter`` with a disk spool is fed at ``--factor`` × that rate for
   ``--duration`` seconds, as the runner would (one observation per check per tick);
   every second it prints what waits in memory, on disk, how many were dropped, the
   backlog and the process's RSS;
3. drain: feeding stops; how long until the backlog is stored (bounded by ``--drain-max``).

Memory must stay bounded (``max_buffered`` waiting, plus the batches being stored; 10,000 by
default in Kadou, ``--max-buffered`` here) while the spool grows, with nothing dropped until
the spool is full.

    python bench/writer_backpressure.py                    # 1000 checks, 2x, 15 s
    python bench/writer_backpressure.py --factor 2 --duration 10 --checks 500
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.catalog import parse_catalog  # noqa: E402
from app.runtime import open_runtime, upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.sink import StoreSink  # noqa: E402
from probes.sink import BatchingWriter, ObservationRecord  # noqa: E402


def catalog_text(checks: int) -> str:
    services = "\n".join(
        f"""      - id: svc{n}
        name: {{ja: S{n}, en: S{n}}}
        target: 0.999
        checks:
          - {{id: http, type: http, url: "http://127.0.0.1:9/{n}", interval: 10s, timeout: 5s}}"""
        for n in range(checks)
    )
    return f"""\
systems:
  - id: bench
    name: {{ja: Bench, en: Bench}}
    target: 0.999
    services:
{services}
"""


def rss_mib() -> float:
    # Linux: the peak so far, in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Feed:
    """One result per check per tick, each a millisecond later than the last."""

    def __init__(self, checks: int) -> None:
        self.checks = checks
        self.at = datetime(2026, 11, 1, tzinfo=UTC)
        self.produced = 0

    def next(self) -> ObservationRecord:
        n = self.produced % self.checks
        self.produced += 1
        self.at += timedelta(milliseconds=1)
        return ObservationRecord(
            check=f"bench/svc{n}/http",
            location="bench",
            observed_at=self.at,
            ok=True,
            latency_ms=1.0,
            detail=None,
        )


async def calibrate(sink: StoreSink, feed: Feed, seconds: float) -> float:
    # Warm-up, not counted: the first result of each check creates its timeline.
    for _ in range(2):
        await sink.write([feed.next() for _ in range(feed.checks)])
    stored = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        batch = [feed.next() for _ in range(500)]
        await sink.write(batch)
        stored += len(batch)
    return stored / (time.perf_counter() - began)


async def overload(
    sink: StoreSink,
    feed: Feed,
    spool_dir: Path,
    rate: float,
    duration: float,
    drain_max: float,
    max_buffered: int,
) -> None:
    writer = BatchingWriter(sink, spool_dir, name="bench", max_buffered=max_buffered)
    await writer.start()
    tick_s = 0.01
    began = time.perf_counter()
    fed = 0
    next_report = 1.0
    print(
        f"{'t (s)':>6} {'fed':>8} {'stored':>8} {'memory':>7} {'sending':>8} "
        f"{'spooled':>8} {'spool MiB':>9} {'dropped':>7} {'backlog':>8} {'RSS MiB':>8}"
    )

    def report(elapsed: float) -> None:
        status = writer.status()
        print(
            f"{elapsed:6.1f} {fed:8d} {writer.stats.delivered_observations:8d} "
            f"{writer.buffered:7d} {status.backlog - writer.buffered - status.spooled:8d} "
            f"{status.spooled:8d} {status.spool_bytes / 2**20:9.1f} {status.dropped:7d} "
            f"{status.backlog:8d} {rss_mib():8.0f}"
        )

    while (elapsed := time.perf_counter() - began) < duration:
        due = int(elapsed * rate)
        while fed < due:
            writer.add(feed.next())
            fed += 1
        if elapsed >= next_report:
            report(elapsed)
            next_report += 1.0
        await asyncio.sleep(tick_s)
    stop_feeding = time.perf_counter()
    print(f"-- feeding stopped after {fed} observations; draining")
    while writer.status().backlog and time.perf_counter() - stop_feeding < drain_max:
        elapsed = time.perf_counter() - began
        if elapsed >= next_report:
            report(elapsed)
            next_report += 1.0
        await asyncio.sleep(0.05)
    drained_in = time.perf_counter() - stop_feeding
    report(time.perf_counter() - began)
    status = writer.status()
    await writer.aclose()
    print(
        f"drain: {'done' if not status.backlog else 'NOT done'} in {drained_in:.1f} s; "
        f"fed {fed}, stored {writer.stats.delivered_observations}, dropped {status.dropped}, "
        f"left {status.backlog}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1_000)
    parser.add_argument("--factor", type=float, default=2.0, help="times the sustainable rate")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of overload")
    parser.add_argument("--calibrate", type=float, default=4.0, help="seconds of calibration")
    parser.add_argument("--drain-max", type=float, default=60.0, help="seconds to wait at most")
    parser.add_argument(
        "--max-buffered",
        type=int,
        default=500,
        help="the writer's memory bound (default 10,000 in Kadou; smaller here so that a "
        "short run reaches it)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kadou-backpressure-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        catalog = parse_catalog(catalog_text(args.checks), "bench")
        runtime = open_runtime(Settings(database_url=url), catalog=catalog)
        sink = StoreSink(runtime.sessions, runtime.timeline_params, late=runtime.late_audit)
        feed = Feed(args.checks)
        sustainable = await calibrate(sink, feed, args.calibrate)
        rate = sustainable * args.factor
        print(
            f"SQLite store, {args.checks} checks: sustainable {sustainable:.0f} obs/s "
            f"(batches of 500, {args.calibrate:.0f} s); feeding {rate:.0f} obs/s "
            f"({args.factor}x) for {args.duration:.0f} s; memory bound {args.max_buffered}"
        )
        await overload(
            sink,
            feed,
            Path(tmp) / "spool",
            rate,
            args.duration,
            args.drain_max,
            args.max_buffered,
        )
        runtime.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
