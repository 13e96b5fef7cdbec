"""Sustained ingest through several ``kadou serve`` replicas on one PostgreSQL database,
then the monthly report of 1,000 services, and the database's size before and after a prune.

The shape (defaults): 1,000 services of 10 checks probed every 10 s, i.e. 10,000 checks and
1,000 observations/s, sent as agents send them: 5 agents of 2,000 checks each, each check's
probe start spread over the interval, each agent posting what it has to
``POST /api/v1/results`` every second (a batch of ~200 observations with the agent's
heartbeat, the body ``probes.sink.HttpPushSink`` sends), agents spread over the replicas.
An agent whose post fails retries the same batch with backoff, as the real one does, and
keeps probing meanwhile: its backlog (observations probed, not yet acknowledged) is how far
the servers fall behind.

The observations are dated in a past month (the month three months ago, from its 1st,
01:00 in Asia/Tokyo, advancing with the wall clock) so that, after the run, the month can be
closed and ``kadou db prune`` really deletes them. (The replicas' SLA snapshot for
/metrics, recomputed every 15 s, evaluates the running month, which therefore holds none
of the bench's data: its cost in the figures is that of an empty month. ``--idle-month``
measures it with data.)

The first ``--warmup`` seconds (two intervals: every timeline is created) are not measured,
nor the time after them until the agents have caught up (at most 3 minutes more).
Printed: offered and stored observations/s, push latency p50/p95/p99/max, errors and
retries, backlog, CPU per stored observation of the replicas (from /proc), of the
PostgreSQL backends serving the bench database (from /proc, same machine; autovacuum and
the checkpointer are not in it) and of this process (the agents), the load average seen;
then ``kadou report --month ... --format json`` and ``GET /api/v1/reports/monthly`` for the
run's month, closing that month, the size per table (the code of ``kadou db stats``) before
and after ``kadou db prune``, and after a ``VACUUM``.

    python bench/scale.py                      # 10 minutes at 1,000 obs/s, 2 replicas
    python bench/scale.py --minutes 2 --rate 500 --replicas 1
    python bench/scale.py --minutes 2 --keep   # keep the database (its URL is printed)
    python bench/scale.py --idle-month         # idle replicas, running month's data

``--idle-month`` measures instead what idle replicas spend on the background SLA snapshot
(recomputed every 15 s for /metrics, the overview and /api/v1/systems, plus the 2 s polls
for other replicas' changes) when the running month holds data: for 1 and 10 checks per
service (``--idle-checks``), it imports hourly observations from the 1st of the running
month (Asia/Tokyo) to now, each check down ``--outages`` times for two hours, through the
normal ingest path; then starts 1, then 2 replicas (``--idle-replicas``) with no ingest
and, after their first snapshot, prints for each of ``--idle-runs`` windows of
``--idle-seconds``: each replica's CPU (from /proc) as % of a core and per snapshot round
(rounds counted from ``kadou_sla_snapshot_timestamp_seconds``), the last round's wall time,
RSS, the PostgreSQL backends' CPU and the load average.

The bench database is dropped at exit, Ctrl-C included, unless ``--keep``. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from import_and_report import database, drop, server_cpu_seconds
from sqlalchemy import create_engine, text
from web_overview import generated_catalog_yaml, store_hourly

from app.api.results import MAX_BATCH
from app.catalog.loader import parse_catalog
from app.history import record_catalog
from app.runtime import upgrade
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import TimelineParams
from app.store.stats import DatabaseSize, database_size
from app.store.tokens import create_token
from probes.records import Heartbeat, ObservationRecord

ROOT = Path(__file__).resolve().parents[1]
ZONE = "Asia/Tokyo"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How long a replica may take to load a 10,000-check catalog and answer /readyz.
START_BOUND_S = 180.0
# How long the warm-up may wait, past ``--warmup``, for the agents to catch up.
WARMUP_BOUND_S = 180.0
# How long the replicas' CPU is measured with no ingest: four rounds of the SLA snapshot.
IDLE_S = 60.0
# After the probing stops, how long the agents may take to deliver what they still hold.
DRAIN_BOUND_S = 60.0


@dataclass
class Agent:
    index: int
    checks: list[str]
    base_url: str
    sent_batches: int = 0
    stored: int = 0
    stored_measured: int = 0
    probed_measured: int = 0
    # Failed posts (each retried): when (loop time) and why.
    failures: list[tuple[float, str]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # measured window only
    pending: deque[ObservationRecord] = field(default_factory=deque)
    max_backlog: int = 0  # measured window only
    warmup_backlog: int = 0


@dataclass
class Window:
    """The measured part of the run: monotonic bounds and the CPU counters at each end."""

    start: float = 0.0
    end: float = 0.0
    # When the agents stop probing: set with ``start``.
    stop: float = math.inf
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)
    # CPU seconds per second with no ingest, after the run (the replicas' background work).
    idle: dict[str, float] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def month_back(now: datetime, months: int) -> tuple[int, int]:
    index = now.year * 12 + now.month - 1 - months
    return index // 12, index % 12 + 1


# --- the replicas ----------------------------------------------------------------------


def start_replicas(
    count: int, environment: dict[str, str], workdir: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    replicas = []
    for index in range(count):
        port = free_port()
        log = open(workdir / f"replica-{index}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "-c", "from app.cli import main; main()", "serve", "--no-probes",
             "--port", str(port), "--log-level", "WARNING"],
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C reaches the bench, which stops the replicas in order.
            start_new_session=True,
        )  # fmt: skip
        replicas.append((process, port))
    deadline = time.monotonic() + START_BOUND_S
    for index, (process, port) in enumerate(replicas):
        while True:
            if process.poll() is not None:
                tail = (workdir / f"replica-{index}.log").read_text()[-3000:]
                raise SystemExit(f"replica {index} exited with {process.returncode}:\n{tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"replica {index} not ready within {START_BOUND_S:.0f} s")
            time.sleep(0.5)
    return replicas


def stop_replicas(replicas: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    for process, _ in replicas:
        if process.poll() is None:
            process.terminate()
    for process, _ in replicas:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the agents ------------------------------------------------------------------------


def measured(window: Window, instant: float) -> bool:
    """Whether ``instant`` (loop time) lies in the measured window, begun or not yet ended."""
    return (
        bool(window.start) and instant >= window.start and (not window.end or instant < window.end)
    )


async def run_agent(
    agent: Agent,
    token: str,
    interval_ms: int,
    flush_s: float,
    sim_start: datetime,
    t0: float,
    window: Window,
) -> None:
    """Probe (simulated) every check of the agent each interval; post every ``flush_s``."""
    rng = random.Random(agent.index)
    offsets = [rng.randrange(interval_ms) for _ in agent.checks]
    # About 1 % of the checks are down all along; any result flips its check's state with
    # probability 0.002 (outages starting and ending, blips), as bench/live_store.py does.
    up = [rng.random() > 0.01 for _ in agent.checks]
    location = "tokyo"
    runner = f"bench-agent-{agent.index}"
    loop = asyncio.get_running_loop()
    probed_ms = 0  # simulated ms since t0 up to which every due probe was made
    next_flush = t0 + flush_s
    async with httpx.AsyncClient(
        base_url=agent.base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10.0),
    ) as client:
        while True:
            await asyncio.sleep(max(0.0, next_flush - loop.time()))
            now = loop.time()
            probing = now < window.stop
            if probing:
                until_ms = int((now - t0) * 1000)
                for position, check in enumerate(agent.checks):
                    offset = offsets[position]
                    due = offset + max(0, -(-(probed_ms - offset) // interval_ms)) * interval_ms
                    while due < until_ms:
                        if rng.random() < 0.002:
                            up[position] = not up[position]
                        ok = up[position]
                        agent.pending.append(
                            ObservationRecord(
                                check,
                                location,
                                sim_start + timedelta(milliseconds=due),
                                ok,
                                round(rng.uniform(5, 80), 3),
                                None if ok else "status 503",
                            )
                        )
                        if measured(window, t0 + due / 1000):
                            agent.probed_measured += 1
                        due += interval_ms
                probed_ms = until_ms
            elif not agent.pending:
                return
            if measured(window, now):
                agent.max_backlog = max(agent.max_backlog, len(agent.pending))
            elif not window.start:
                agent.warmup_backlog = max(agent.warmup_backlog, len(agent.pending))
            batch = [agent.pending[i] for i in range(min(MAX_BATCH, len(agent.pending)))]
            heartbeat = Heartbeat(
                runner, location, sim_start + timedelta(seconds=now - t0), round(flush_s * 1000)
            )
            body = {
                "observations": [record.to_json() for record in batch],
                "heartbeat": heartbeat.to_json(),
            }
            attempt = 0
            while True:
                began = loop.time()
                failure = None
                try:
                    response = await client.post("/api/v1/results", json=body)
                    if response.status_code >= 500 or response.status_code in (408, 429):
                        failure = f"HTTP {response.status_code}"
                    elif response.status_code >= 400:
                        raise SystemExit(
                            f"agent {agent.index}: the server rejected a batch with "
                            f"{response.status_code}: {response.text[:500]}"
                        )
                except httpx.HTTPError as error:
                    failure = type(error).__name__
                done = loop.time()
                if failure is None:
                    break
                agent.failures.append((began, failure))
                if not probing and done > window.stop + DRAIN_BOUND_S:
                    return
                attempt += 1
                await asyncio.sleep(min(5.0, 0.25 * 2**attempt))
            stored = int(response.json()["stored"])
            for _ in batch:
                agent.pending.popleft()
            agent.sent_batches += 1
            agent.stored += stored
            if measured(window, began) and measured(window, done):
                agent.latencies_ms.append((done - began) * 1000)
                agent.stored_measured += stored
            next_flush += flush_s
            if next_flush < loop.time():
                # Behind schedule: post the next batch at once, as the agent's writer does.
                next_flush = loop.time()
            if not probing and loop.time() > window.stop + DRAIN_BOUND_S:
                return


def cpu_counters(
    replicas: list[tuple[subprocess.Popen[bytes], int]], pg_name: str
) -> dict[str, float]:
    counters = {f"replica{i}": process_cpu_seconds(p.pid) for i, (p, _) in enumerate(replicas)}
    counters["postgres"] = server_cpu_seconds(pg_name)
    counters["agents"] = time.process_time()
    return counters


async def ingest(
    agents: list[Agent],
    token: str,
    interval_ms: int,
    flush_s: float,
    sim_start: datetime,
    seconds: float,
    warmup_s: float,
    replicas: list[tuple[subprocess.Popen[bytes], int]],
    pg_name: str,
) -> Window:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    window = Window()
    tasks = [
        asyncio.create_task(run_agent(agent, token, interval_ms, flush_s, sim_start, t0, window))
        for agent in agents
    ]
    await asyncio.sleep(warmup_s)
    # The first results of each check create its timeline, the slow path: measure from when
    # the agents have caught up with that (each holds at most two posts' worth).
    caught_up = 2 * flush_s * 1000 / interval_ms
    while loop.time() < t0 + warmup_s + WARMUP_BOUND_S and any(
        len(agent.pending) > caught_up * len(agent.checks) for agent in agents
    ):
        await asyncio.sleep(0.5)
    window.cpu_start = await asyncio.to_thread(cpu_counters, replicas, pg_name)
    window.start = loop.time()
    window.stop = stop_probing = window.start + seconds
    print(f"  warm-up: {window.start - t0:.0f} s", flush=True)
    last_report = window.start
    while loop.time() < stop_probing:
        await asyncio.sleep(min(1.0, max(0.0, stop_probing - loop.time())))
        window.loads.append(os.getloadavg()[0])
        if loop.time() - last_report >= 30 and loop.time() < stop_probing - 5:
            last_report = loop.time()
            elapsed = last_report - window.start
            latencies = [v for a in agents for v in a.latencies_ms]
            print(
                f"  {elapsed:5.0f} s: {sum(a.stored_measured for a in agents) / elapsed:,.0f} "
                f"obs/s stored, p99 {percentile(latencies, 0.99) if latencies else 0:.0f} ms, "
                f"backlog {sum(len(a.pending) for a in agents):,}, "
                f"failed posts {sum(len(a.failures) for a in agents)}, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    window.end = loop.time()
    window.cpu_end = await asyncio.to_thread(cpu_counters, replicas, pg_name)
    backlog_at_end = sum(len(a.pending) for a in agents)
    await asyncio.gather(*tasks)
    left = sum(len(a.pending) for a in agents)
    print(
        f"  backlog when probing stopped: {backlog_at_end:,} observations; "
        + (
            f"all delivered {loop.time() - window.end:.1f} s later"
            if not left
            else f"{left:,} still undelivered after {DRAIN_BOUND_S:.0f} s"
        ),
        flush=True,
    )
    # What the replicas spend with no ingest: the SLA snapshot /metrics reads (recomputed
    # every KADOU_METRICS_REFRESH_SECONDS, 15 s) and the polls for other replicas' changes.
    before = await asyncio.to_thread(cpu_counters, replicas, pg_name)
    began = loop.time()
    await asyncio.sleep(IDLE_S)
    after = await asyncio.to_thread(cpu_counters, replicas, pg_name)
    window.idle = {k: (after[k] - before[k]) / (loop.time() - began) for k in before}
    return window


# --- reports, sizes, prune -------------------------------------------------------------


def timed_command(
    arguments: list[str], environment: dict[str, str], workdir: Path
) -> tuple[float, float, str]:
    """Wall and CPU seconds of a ``kadou`` command, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *arguments],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"kadou {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    scaled = [v * scale for v in values]
    return (
        f"min {min(scaled):.2f} / median {statistics.median(scaled):.2f} / "
        f"max {max(scaled):.2f} {unit}"
    )


def print_sizes(label: str, size: DatabaseSize) -> None:
    print(f"  {label}: {size.total_bytes / 1e6:,.1f} MB in all", flush=True)
    for item in size.tables:
        if (item.total_bytes or 0) >= 100_000:  # the small tables say nothing here
            print(
                f"    {item.name:<22} {item.rows:>12,} rows {(item.table_bytes or 0) / 1e6:9.1f} MB "
                f"data {(item.index_bytes or 0) / 1e6:9.1f} MB indexes"
                + (
                    f"  ({item.bytes_per_row:.1f} B/row)"
                    if item.bytes_per_row is not None and item.rows >= 1000
                    else ""
                ),
                flush=True,
            )


# --- the run ---------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    interval_s = args.interval
    checks_per_service = max(1, round(args.rate * interval_s / args.services))
    check_count = args.services * checks_per_service
    offered = check_count / interval_s
    now = datetime.now(UTC)
    year, month = month_back(now.astimezone(ZoneInfo(ZONE)), 3)
    sim_start = datetime(year, month, 1, 1, 0, tzinfo=ZoneInfo(ZONE))
    label = f"{year:04d}-{month:02d}"
    print(
        f"scale: {args.replicas} replica(s), {args.agents} agents, {args.services:,} services x "
        f"{checks_per_service} checks every {interval_s} s = {offered:,.0f} obs/s offered, "
        f"posts every {args.flush} s; {args.minutes} min measured after {args.warmup:.0f} s "
        f"warm-up; observations dated from {sim_start.isoformat()}; "
        f"{os.cpu_count()} CPUs, load {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kadou-scale-") as tmp:
        workdir = Path(tmp)
        url, pg_name = database("postgres", tmp)
        assert pg_name is not None
        replicas: list[tuple[subprocess.Popen[bytes], int]] = []
        engine = None
        try:
            catalog_path = workdir / "catalog.yaml"
            catalog_path.write_text(
                generated_catalog_yaml(
                    args.services,
                    checks_per_service=checks_per_service,
                    interval=f"{interval_s}s",
                    timeout=f"{max(1, interval_s // 2)}s",
                )
            )
            catalog = parse_catalog(catalog_path.read_text(), str(catalog_path))
            upgrade(url)
            engine = make_engine(url)
            sessions = session_factory(engine)
            # In force before the run's month, so that month is judged by it.
            record_catalog(sessions, catalog, "bench", at=sim_start - timedelta(days=1))
            with transaction(sessions) as session:
                _, prober = create_token(session, name="bench-agents", role="prober", actor="bench")
                _, viewer = create_token(session, name="bench-reader", role="viewer", actor="bench")
            environment = {
                **{k: v for k, v in os.environ.items() if not k.startswith("KADOU_")},
                "PYTHONPATH": str(ROOT),
                "KADOU_DATABASE_URL": url,
                "KADOU_CATALOG": str(catalog_path),
                "KADOU_TIMEZONE": ZONE,
                "KADOU_REPORT_DIR": str(workdir / "reports"),
                "KADOU_REPORT_EXPORT": "false",
                # Nothing pruned behind the bench's back; the prune below is explicit.
                "KADOU_OBSERVATION_RETENTION": "forever",
                "KADOU_SESSION_SECRET": secrets.token_hex(32),
            }
            began = time.perf_counter()
            replicas = start_replicas(args.replicas, environment, workdir)
            print(f"  {args.replicas} replica(s) ready in {time.perf_counter() - began:.1f} s")
            keys = list(catalog.checks())
            agents = [
                Agent(
                    index,
                    keys[index :: args.agents],
                    f"http://127.0.0.1:{replicas[index % len(replicas)][1]}",
                )
                for index in range(args.agents)
            ]
            window = asyncio.run(
                ingest(
                    agents, prober, interval_s * 1000, args.flush, sim_start,
                    args.minutes * 60, args.warmup, replicas, pg_name,
                )
            )  # fmt: skip
            summarise(agents, window, offered, args)
            report_and_prune(args, url, label, environment, workdir, replicas, viewer, engine, now)
            print(f"  load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        finally:
            stop_replicas(replicas)
            if engine is not None:
                engine.dispose()
            if args.keep:
                print(f"kept the database: {url}")
            else:
                drop(pg_name)


def summarise(
    agents: list[Agent], window: Window, offered: float, args: argparse.Namespace
) -> None:
    seconds = window.end - window.start
    stored = sum(a.stored_measured for a in agents)
    probed = sum(a.probed_measured for a in agents)
    latencies = [v for a in agents for v in a.latencies_ms]
    failed = [why for a in agents for at, why in a.failures if measured(window, at)]
    warmup_failures = sum(1 for a in agents for at, _ in a.failures if at < window.start)
    cpu = {k: window.cpu_end[k] - window.cpu_start[k] for k in window.cpu_start}
    replica_cpu = sum(v for k, v in cpu.items() if k.startswith("replica"))
    per_obs = 1e6 / max(stored, 1)
    print(
        f"  measured {seconds:.0f} s: probed {probed / seconds:,.0f} obs/s, stored "
        f"{stored / seconds:,.0f} obs/s (offered {offered:,.0f}); "
        f"{len(latencies):,} posts of ~{stored // max(len(latencies), 1)} observations",
        flush=True,
    )
    if latencies:
        print(
            f"  push latency p50 {percentile(latencies, 0.5):.0f} ms, p95 "
            f"{percentile(latencies, 0.95):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
            f"max {max(latencies):.0f} ms; failed posts (each retried) {len(failed)}"
            + (
                f" ({', '.join(f'{n} {why}' for why, n in Counter(failed).most_common())})"
                if failed
                else ""
            )
            + f", {warmup_failures} more during the warm-up; largest agent backlog "
            f"{max(a.max_backlog for a in agents):,} observations "
            f"({max(a.warmup_backlog for a in agents):,} during the warm-up)",
            flush=True,
        )
    print(
        f"  CPU per stored observation: replicas {replica_cpu * per_obs:.0f} µs "
        f"({', '.join(f'{cpu[k] / seconds:.0%}' for k in cpu if k.startswith('replica'))} "
        f"of a core), PostgreSQL backends {cpu['postgres'] * per_obs:.0f} µs "
        f"({cpu['postgres'] / seconds:.0%}), agents {cpu['agents'] * per_obs:.0f} µs "
        f"({cpu['agents'] / seconds:.0%}); load average during the run min "
        f"{min(window.loads):.1f} / median {statistics.median(window.loads):.1f} / max "
        f"{max(window.loads):.1f}",
        flush=True,
    )
    idle_replicas = sum(v for k, v in window.idle.items() if k.startswith("replica"))
    print(
        f"  with no ingest (after it): replicas {idle_replicas:.0%} of a core, PostgreSQL "
        f"{window.idle['postgres']:.0%}; less that, ingest costs the replicas "
        f"{(replica_cpu - idle_replicas * seconds) * per_obs:.0f} µs and PostgreSQL "
        f"{(cpu['postgres'] - window.idle['postgres'] * seconds) * per_obs:.0f} µs per observation",
        flush=True,
    )


def report_and_prune(
    args: argparse.Namespace,
    url: str,
    label: str,
    environment: dict[str, str],
    workdir: Path,
    replicas: list[tuple[subprocess.Popen[bytes], int]],
    viewer: str,
    engine: Any,
    now: datetime,
) -> None:
    walls, cpus = [], []
    for _ in range(args.reports):
        wall, cpu, _ = timed_command(
            ["report", "--month", label, "--format", "json"], environment, workdir
        )
        walls.append(wall)
        cpus.append(cpu)
    print(f"  kadou report --month {label} --format json: wall {spread(walls)}, CPU {spread(cpus)}")
    process, port = replicas[0]
    walls, cpus = [], []
    for _ in range(args.reports):
        cpu_before = process_cpu_seconds(process.pid)
        began = time.perf_counter()
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/reports/monthly",
            params={"month": label, "format": "json"},
            headers={"Authorization": f"Bearer {viewer}"},
            timeout=300,
        )
        walls.append(time.perf_counter() - began)
        cpus.append(process_cpu_seconds(process.pid) - cpu_before)
        response.raise_for_status()
    print(
        f"  GET /api/v1/reports/monthly?month={label}&format=json: wall {spread(walls)}, "
        f"replica CPU {spread(cpus)} ({len(response.content) / 1e6:.1f} MB)"
    )
    wall, cpu, _ = timed_command(["month", "close", label], environment, workdir)
    print(f"  kadou month close {label}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    before = database_size(engine)
    print_sizes("after the run", before)
    # A retention that reaches past the run's data (a day after it) but not the next month.
    retention_days = (now - datetime.fromisoformat(f"{label}-01T00:00:00+09:00")).days - 2
    wall, cpu, output = timed_command(
        ["db", "prune"],
        {**environment, "KADOU_OBSERVATION_RETENTION": f"{retention_days}d"},
        workdir,
    )
    deleted = next((line for line in output.splitlines() if line.startswith("deleted")), output)
    print(
        f"  kadou db prune (retention {retention_days}d): {wall:.1f} s wall, {cpu:.1f} s CPU: {deleted}"
    )
    print_sizes("after the prune", database_size(engine))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            began = time.perf_counter()
            connection.execute(text("VACUUM"))
            vacuumed = time.perf_counter() - began
    finally:
        admin.dispose()
    print_sizes(f"after VACUUM ({vacuumed:.1f} s)", database_size(engine))


# --- --idle-month: the replicas' background SLA snapshot with a month of data ----------


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def snapshot_gauges(port: int, token: str) -> dict[str, float]:
    """The ``kadou_sla_snapshot_*`` gauges of one replica's /metrics."""
    response = httpx.get(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    body = response.text
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in body.splitlines())
        if name in ("kadou_sla_snapshot_timestamp_seconds", "kadou_sla_snapshot_duration_seconds")
    }


def idle_month(args: argparse.Namespace) -> None:
    """Idle replicas on a database holding the running month up to now, for each number of
    checks per service: CPU per snapshot round, % of a core and RSS."""
    zone = ZoneInfo(ZONE)
    now = datetime.now(UTC)
    local = now.astimezone(zone)
    month_start = datetime(local.year, local.month, 1, tzinfo=zone)
    hours = int((now - month_start).total_seconds() // 3600) + 1
    refresh = 15.0  # KADOU_METRICS_REFRESH_SECONDS's default
    print(
        f"idle month: {args.services:,} services, checks per service {args.idle_checks}, "
        f"hourly observations from {month_start.isoformat()} to now ({hours} h), each check "
        f"down {args.outages} time(s); replicas {args.idle_replicas}, {args.idle_runs} runs of "
        f"{args.idle_seconds:.0f} s each; {os.cpu_count()} CPUs, "
        f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    for checks_per_service in args.idle_checks:
        with tempfile.TemporaryDirectory(prefix="kadou-idle-") as tmp:
            workdir = Path(tmp)
            url, pg_name = database("postgres", tmp)
            engine = None
            replicas: list[tuple[subprocess.Popen[bytes], int]] = []
            try:
                catalog_path = workdir / "catalog.yaml"
                catalog_path.write_text(
                    generated_catalog_yaml(args.services, checks_per_service=checks_per_service)
                )
                catalog = parse_catalog(catalog_path.read_text(), str(catalog_path))
                upgrade(url)
                engine = make_engine(url)
                sessions = session_factory(engine)
                record_catalog(sessions, catalog, "bench", at=month_start - timedelta(days=1))
                with transaction(sessions) as session:
                    _, viewer = create_token(
                        session, name="bench-reader", role="viewer", actor="bench"
                    )
                checks = catalog.checks()
                params = {k: TimelineParams(c.confirm, c.stale_after_ms) for k, c in checks.items()}

                # Outages two hours long (two failures: the default confirm), spread over the
                # elapsed month and shifted per check so they do not all coincide.
                def failing(index: int) -> set[int]:
                    return {
                        hour
                        for outage in range(args.outages)
                        for start in [
                            (index + outage * hours // max(1, args.outages)) % (hours - 2)
                        ]
                        for hour in (start, start + 1)
                    }

                began = time.perf_counter()
                stored = store_hourly(sessions, params, list(checks), month_start, hours, failing)
                print(
                    f"  {checks_per_service} check(s)/service: {len(checks):,} checks, "
                    f"{stored:,} observations imported in {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
                environment = {
                    **{k: v for k, v in os.environ.items() if not k.startswith("KADOU_")},
                    "PYTHONPATH": str(ROOT),
                    "KADOU_DATABASE_URL": url,
                    "KADOU_CATALOG": str(catalog_path),
                    "KADOU_TIMEZONE": ZONE,
                    "KADOU_REPORT_DIR": str(workdir / "reports"),
                    "KADOU_REPORT_EXPORT": "false",
                    "KADOU_OBSERVATION_RETENTION": "forever",
                    "KADOU_SESSION_SECRET": secrets.token_hex(32),
                }
                for count in args.idle_replicas:
                    replicas = start_replicas(count, environment, workdir)
                    # The first round (at start-up) warms the caches; measure after it.
                    deadline = time.monotonic() + START_BOUND_S
                    while any(
                        "kadou_sla_snapshot_timestamp_seconds" not in snapshot_gauges(port, viewer)
                        for _, port in replicas
                    ):
                        if time.monotonic() > deadline:
                            raise SystemExit("no snapshot published within the start bound")
                        time.sleep(1)
                    for run_index in range(args.idle_runs):
                        pids = [process.pid for process, _ in replicas]
                        # Scraped outside the measured window: rendering /metrics is not
                        # the background work measured.
                        first = [snapshot_gauges(port, viewer) for _, port in replicas]
                        before = [process_cpu_seconds(pid) for pid in pids]
                        pg_before = server_cpu_seconds(pg_name)
                        wall = time.monotonic()
                        time.sleep(args.idle_seconds)  # the thing measured is idleness
                        elapsed = time.monotonic() - wall
                        cpu = [
                            process_cpu_seconds(pid) - b
                            for pid, b in zip(pids, before, strict=True)
                        ]
                        pg_cpu = server_cpu_seconds(pg_name) - pg_before
                        last = [snapshot_gauges(port, viewer) for _, port in replicas]
                        rounds = [
                            round(
                                (b["kadou_sla_snapshot_timestamp_seconds"]
                                 - a["kadou_sla_snapshot_timestamp_seconds"]) / refresh
                            )
                            for a, b in zip(first, last, strict=True)
                        ]  # fmt: skip
                        for index, pid in enumerate(pids):
                            print(
                                f"    {count} replica(s), run {run_index + 1}, replica {index}: "
                                f"{cpu[index]:.2f} s CPU in {elapsed:.0f} s = "
                                f"{100 * cpu[index] / elapsed:.1f} % of a core; {rounds[index]} "
                                f"rounds, {1000 * cpu[index] / max(1, rounds[index]):.0f} ms CPU "
                                f"a round (last round "
                                f"{1000 * last[index]['kadou_sla_snapshot_duration_seconds']:.0f}"
                                f" ms wall); RSS {rss_mib(pid):.0f} MiB; load "
                                f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
                                flush=True,
                            )
                        print(
                            f"    {count} replica(s), run {run_index + 1}: PostgreSQL backends "
                            f"{100 * pg_cpu / elapsed:.1f} % of a core",
                            flush=True,
                        )
                    stop_replicas(replicas)
                    replicas = []
            finally:
                stop_replicas(replicas)
                if engine is not None:
                    engine.dispose()
                drop(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes of ingest")
    parser.add_argument("--rate", type=float, default=1000.0, help="observations per second")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10, help="probe interval in seconds")
    parser.add_argument("--flush", type=float, default=1.0, help="seconds between an agent's posts")
    parser.add_argument("--warmup", type=float, default=None, help="default: two intervals")
    parser.add_argument("--reports", type=int, default=3, help="monthly reports to time")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--idle-month",
        action="store_true",
        help="instead: idle replicas with the running month's data (the SLA snapshot's cost)",
    )
    parser.add_argument(
        "--idle-checks",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 10],
        help="checks per service, comma-separated",
    )
    parser.add_argument(
        "--idle-replicas",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 2],
        help="replica counts to measure, comma-separated",
    )
    parser.add_argument("--idle-runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="length of one run")
    parser.add_argument("--outages", type=int, default=2, help="outages per check this month")
    args = parser.parse_args()
    if args.idle_month:
        idle_month(args)
        return
    if args.warmup is None:
        args.warmup = 2.0 * args.interval
    if args.replicas < 1 or args.agents < 1 or args.rate <= 0 or args.minutes <= 0:
        parser.error("--replicas and --agents need at least 1; --rate and --minutes above 0")

    def stop(signum: int, frame: FrameType | None) -> None:
        # Unwind through the finally blocks that stop the replicas and drop the database.
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background by a script ignores it otherwise.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted: replicas stopped, bench database dropped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
