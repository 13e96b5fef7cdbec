"""Server time of the overview page ``/``: the default catalog with a month of data, and a
generated catalog of 1,000 services.

The page is served in-process (httpx over ASGI, so no network in the figure) on a SQLite
file filled through the normal import path. Three figures per catalog:

- *cold*: the month-to-date evaluation is recomputed for the request (the state cache is
  off), the worst case, what the first request after the cache expires pays;
- *warm*: the cached evaluation (``CurrentStateCache``, the snapshot ``/api/v1/systems``
  and ``/metrics`` share) is reused, what every other request within its max age pays;
- *state*: computing that snapshot alone, so that "cold" splits into the shared
  evaluation and the page built on it (cold ≈ state + warm).

Goal: under 200 ms uncached, with the default catalog and with 1,000 services. Each figure
is the process's CPU time for the request (wall time beside it): the machine's load moves
wall-clock figures a lot, CPU time much less. As ``kadou serve`` does, the heap built at
start-up is frozen out of the garbage collector's sight (``app.serve.settle_heap``) before
timing; ``--no-settle`` leaves it, to show what that is worth.

    python bench/web_overview.py                # both catalogs
    python bench/web_overview.py --services 0   # the default catalog only
    python bench/web_overview.py --skip-default # the 1,000 services only

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.catalog.loader import parse_catalog
from app.catalog.model import Catalog
from app.demo.sample import default_scenario, generate, month_bounds
from app.main import create_app
from app.observations import parse_observation
from app.runtime import Runtime, open_runtime, upgrade
from app.serve import settle_heap
from app.settings import Settings
from app.store.db import transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations

TZ = "Asia/Tokyo"
ZONE = ZoneInfo(TZ)
# The clock: the last minute of October, so "month to date" is a whole month of data.
NOW = datetime(2026, 10, 31, 23, 59, tzinfo=ZONE)


def generated_catalog(services: int, per_system: int = 10) -> Catalog:
    """``services`` services in systems of ``per_system``, one hourly HTTP check each."""
    return parse_catalog(generated_catalog_yaml(services, per_system), f"generated-{services}")


def generated_catalog_yaml(
    services: int,
    per_system: int = 10,
    *,
    checks_per_service: int = 1,
    interval: str = "1h",
    timeout: str = "10s",
) -> str:
    """The YAML of ``services`` services in systems of ``per_system``, with
    ``checks_per_service`` HTTP checks each (``http``, ``http1``, ...) every ``interval``."""
    lines = ["timezone: Asia/Tokyo", "systems:"]
    for system_index in range((services + per_system - 1) // per_system):
        lines += [
            f"  - id: sys-{system_index:03d}",
            f"    name: {{ja: システム{system_index}, en: System {system_index}}}",
            "    target: 0.999",
            "    services:",
        ]
        for service_index in range(min(per_system, services - system_index * per_system)):
            lines += [
                f"      - id: svc-{service_index}",
                f"        name: {{ja: 業務{service_index}, en: Service {service_index}}}",
                "        target: 0.999",
                "        checks:",
            ]
            for check_index in range(checks_per_service):
                lines += [
                    f"          - id: http{check_index or ''}",
                    "            type: http",
                    f"            interval: {interval}",
                    f"            timeout: {timeout}",
                    f"            url: http://127.0.0.1:9/sys-{system_index}/svc-{service_index}"
                    + (f"/{check_index}" if check_index else ""),
                ]
    return "\n".join(lines) + "\n"


def import_default_month(runtime: Runtime) -> int:
    catalog = runtime.catalog
    checks = catalog.checks()
    start, end = month_bounds(2026, 10, TZ)
    scenario = default_scenario(2026, 10, TZ)
    total = 0
    for day in range((end - start).days):
        day_start = start + timedelta(days=day)
        records = generate(catalog, day_start, day_start + timedelta(days=1), scenario, seed=day)
        batch = [parse_observation(record, checks, "bench") for record in records]
        with transaction(runtime.sessions) as session:
            store_observations(session, batch, runtime.timeline_params)
        total += len(batch)
    return total


def import_generated_month(runtime: Runtime) -> int:
    """Hourly observations all month; every tenth service fails twice in a row once."""
    start, end = month_bounds(2026, 10, TZ)
    hours = int((end - start).total_seconds() // 3600)
    return store_hourly(
        runtime.sessions,
        runtime.timeline_params,
        list(runtime.catalog.checks()),
        start,
        hours,
        lambda index: {100 + index % 500, 101 + index % 500} if index % 10 == 0 else set(),
    )


def store_hourly(
    sessions: sessionmaker[Session],
    timeline_params: dict[str, TimelineParams],
    keys: list[str],
    start: datetime,
    hours: int,
    failing: Callable[[int], set[int]],
) -> int:
    """One observation an hour from ``start`` for each check (through the normal ingest
    path, so segments are built as in production); the check ``keys[i]`` fails at the hours
    ``failing(i)``. Returns how many were stored."""
    total = 0
    for index, key in enumerate(keys):
        failed = failing(index)
        batch = [
            ObservationIn(
                check=key,
                location="tokyo",
                observed_at=start + timedelta(hours=hour),
                ok=hour not in failed,
                latency_ms=12.0,
                detail=None if hour not in failed else "status 503",
            )
            for hour in range(hours)
        ]
        with transaction(sessions) as session:
            store_observations(session, batch, timeline_params)
        total += len(batch)
    return total


Timings = list[tuple[float, float]]  # (CPU seconds, wall seconds) per round

SETTLE = True


async def time_overview(runtime: Runtime, *, cache_seconds: float, rounds: int) -> Timings:
    app = create_app(
        runtime,
        now=lambda: NOW,
        current_max_age_seconds=cache_seconds,
        metrics_refresh_seconds=None,
    )
    timings: Timings = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        first = await client.get("/")  # warms imports and templates (and the cache)
        assert first.status_code == 200, first.status_code
        if SETTLE:
            settle_heap()
        for _ in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            response = await client.get("/")
            timings.append((time.process_time() - cpu, time.perf_counter() - wall))
            assert response.status_code == 200
    return timings


def time_current_state(runtime: Runtime, *, rounds: int) -> list[float]:
    """The shared current-state snapshot alone (one evaluation of every service, what the
    cold figure pays before the page itself): the part of "cold" that is not the page's."""
    from app.current import compute_current_state

    compute_current_state(runtime, NOW)
    if SETTLE:
        settle_heap()
    timings: Timings = []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        compute_current_state(runtime, NOW)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall))
    return timings


def median_cpu_ms(timings: Timings) -> float:
    return statistics.median(cpu for cpu, _ in timings) * 1000


def report(label: str, timings: Timings, goal_ms: float) -> None:
    cpu = [cpu * 1000 for cpu, _ in timings]
    median = median_cpu_ms(timings)
    wall = statistics.median(wall for _, wall in timings) * 1000
    print(
        f"  {label:<6} CPU median {median:7.1f} ms  (min {min(cpu):.1f}, max {max(cpu):.1f}, "
        f"n={len(timings)}; wall median {wall:.1f} ms)  goal < {goal_ms:.0f} ms: "
        f"{'ok' if median < goal_ms else 'MISSED'}",
        flush=True,
    )


def run(name: str, catalog: Catalog, importer: Any, goal_ms: float) -> dict[str, float]:
    """Import, time and print; returns the median CPU ms of cold, warm and state."""
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.db"
        upgrade(url)
        runtime = open_runtime(
            Settings(database_url=url, timezone=TZ, public_read=True), catalog=catalog
        )
        began = time.perf_counter()
        observations = importer(runtime)
        print(
            f"{name}: {len(catalog.services())} services, {observations:,} observations "
            f"imported in {time.perf_counter() - began:.1f} s",
            flush=True,
        )
        figures = {
            "cold": asyncio.run(time_overview(runtime, cache_seconds=0, rounds=5)),
            "warm": asyncio.run(time_overview(runtime, cache_seconds=60, rounds=30)),
            "state": time_current_state(runtime, rounds=5),
        }
        for label, timings in figures.items():
            report(label, timings, goal_ms)
        runtime.engine.dispose()
    return {label: median_cpu_ms(timings) for label, timings in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000, help="0 skips the big catalog")
    parser.add_argument(
        "--skip-default", action="store_true", help="only the generated catalog (faster)"
    )
    parser.add_argument(
        "--no-settle", action="store_true", help="leave the start-up heap to the collector"
    )
    args = parser.parse_args()
    global SETTLE
    SETTLE = not args.no_settle
    if not args.skip_default:
        run("default catalog, October 2026 at 30 s", load_catalog(), import_default_month, 200)
    if args.services:
        run(
            "generated catalog, October 2026 hourly",
            generated_catalog(args.services),
            import_generated_month,
            200,
        )


if __name__ == "__main__":
    main()
