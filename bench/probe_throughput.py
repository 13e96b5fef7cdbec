"""Probe throughput: Kadou's runner vs Prometheus's blackbox_exporter, side by side.

Prints figures; asserts nothing. It starts its own nginx (temp config, free loopback port,
a static 200) as the target, then:

1. runs Kadou's ProbeRunner with N HTTP checks at a fixed interval, one connection per
   probe, for each client variant asked for (each in its own process, so CPU time is
   clean): probes/s, CPU time per probe (process CPU / probes, the runner and the writer
   included, the storage excluded), schedule lag p50/p99, failures;
2. starts blackbox_exporter (module http_2xx) and drives ``/probe?target=...`` at the same
   rate and spread from a lightweight client, and reads the exporter's own CPU time from
   ``/proc/<pid>/stat``.

End to end (``--end-to-end``): the unit becomes a check result *stored*. Kadou's side is
``kadou+postgres``: the same runner with the embedded runner's ``StoreSink`` (through the
``BatchingWriter``) into a fresh PostgreSQL database; its CPU is the worker process's plus
the PostgreSQL backends' (read from ``/proc``), measured once the writer has caught up
with the first interval (which creates every timeline). The anchor is blackbox_exporter
scraped by Prometheus (``prometheus``, Debian package) at the same interval for the same
targets, storing into its TSDB: the CPU of both processes per result, the results counted
by Prometheus itself (``count_over_time(up[...])``). Both in one run, one after the other.
Measured on a shared 2-core machine, 2,000 checks at 10 s, 60 s each: Kadou 0.953 ms CPU
per stored result (0.121 of it PostgreSQL's), blackbox_exporter + Prometheus 1.579 ms:
0.60× (before the runner's own timers and the HTTP probe's short way; the figures after
are below). (A window that starts before the writer caught up with the first interval
read 2.2 ms: the timelines' creation, once per check, drained into it.)

Variants: ``kadou`` (``run_probe``, i.e. probes/http.py, the real probe), and for comparison
``httpx`` (the probe's former transport: a shared httpx client without keep-alive), ``aiohttp``
(a bare aiohttp GET, no probe logic around it) and ``raw`` (a minimal asyncio HTTP/1.1 GET: the
floor for a new connection per probe); each on the default asyncio loop or on uvloop
(``kadou@uvloop``).

uvloop and ``kadou probe``: measured with ``--variants kadou,kadou@uvloop`` (2,000 checks at
10 s, 30 s each, three runs on a shared 2-core machine, load average 2.3-4.6), CPU per probe
was 0.268/0.278/0.305 ms on asyncio's loop and 0.458/0.477/0.500 ms on uvloop, with the same
schedule lag p99 (2-4 ms): with the probe's short way (probes/http_fast.py) uvloop costs
more, not less. ``kadou probe`` therefore keeps asyncio's own loop. In the same runs blackbox_exporter took 1.002/1.015/1.048 ms: Kadou 0.26-0.30×.
End to end (``--end-to-end``, 30 s, once): Kadou 0.494 ms CPU per stored result (0.096 of it
PostgreSQL's), blackbox_exporter + Prometheus 1.488 ms: 0.33×.

    python bench/probe_throughput.py                      # 2000 checks, 10 s, 60 s each
    python bench/probe_throughput.py --checks 500 --duration 20 --variants kadou,raw@uvloop
    python bench/probe_throughput.py --end-to-end             # probe and store, 2000 checks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.catalog.model import HttpCheck  # noqa: E402
from probes.base import Check, ProbeContext, ProbeResult  # noqa: E402
from probes.protocols import run_probe  # noqa: E402
from probes.runner import ProbeRunner, schedule_offset_ms, settle_heap_for_probing  # noqa: E402
from probes.sink import BatchingWriter, Heartbeat, ObservationRecord, ObservationSink  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port: int = listener.getsockname()[1]
        return port


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the target -----------------------------------------------------------------------


def start_nginx(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "nginx.conf"
    config.write_text(
        f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}
    }}
}}
"""
    )
    nginx = subprocess.Popen(["nginx", "-c", str(config), "-p", str(workdir)])
    wait_for_port(port)
    return nginx, port


def wait_for_port(port: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


# -- Kadou's side (a worker process per variant) ------------------------------------


async def probe_raw(check: Check, ctx: ProbeContext) -> ProbeResult:
    """A minimal HTTP/1.1 GET on a new connection: the floor for one connection per probe."""
    assert isinstance(check, HttpCheck)
    started = time.perf_counter()
    host_port = check.url.split("/", 3)[2]
    host, _, port = host_port.partition(":")
    path = "/" + check.url.split("/", 3)[3]
    try:
        async with asyncio.timeout(check.timeout_ms / 1000):
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\nUser-Agent: Kadou\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            finally:
                writer.close()
    except TimeoutError:
        return ProbeResult(False, (time.perf_counter() - started) * 1000, "timeout")
    except OSError as exc:
        return ProbeResult(False, (time.perf_counter() - started) * 1000, str(exc))
    ok = 200 <= status < 300
    detail = None if ok else f"status {status}"
    return ProbeResult(ok, (time.perf_counter() - started) * 1000, detail)


ProbeFn = Callable[[Check, ProbeContext], Awaitable[ProbeResult]]


def make_httpx_probe() -> tuple[ProbeFn, Callable[[], Awaitable[None]]]:
    """The HTTP probe's former transport: one shared httpx client whose pool keeps nothing."""
    import httpx

    client: httpx.AsyncClient | None = None

    async def probe_httpx(check: Check, ctx: ProbeContext) -> ProbeResult:
        nonlocal client
        assert isinstance(check, HttpCheck)
        if client is None:
            client = httpx.AsyncClient(
                verify=ctx.ssl_context(verify=check.verify_tls),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                headers={"User-Agent": ctx.user_agent, "Connection": "close"},
                follow_redirects=False,
                trust_env=False,
            )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(check.timeout_ms / 1000):
                async with client.stream(
                    check.method, check.url, timeout=httpx.Timeout(check.timeout_ms / 1000)
                ) as response:
                    status = response.status_code
        except TimeoutError:
            return ProbeResult(False, (time.perf_counter() - started) * 1000, "timeout")
        except httpx.HTTPError as exc:
            return ProbeResult(False, (time.perf_counter() - started) * 1000, str(exc))
        ok = 200 <= status < 300
        return ProbeResult(ok, (time.perf_counter() - started) * 1000, None if ok else "status")

    async def close() -> None:
        if client is not None:
            await client.aclose()

    return probe_httpx, close


def make_aiohttp_probe() -> tuple[ProbeFn, Callable[[], Awaitable[None]]]:
    """A bare aiohttp GET: what the library costs without the probe's logic around it."""
    import aiohttp

    session: aiohttp.ClientSession | None = None

    async def probe_aiohttp(check: Check, ctx: ProbeContext) -> ProbeResult:
        nonlocal session
        assert isinstance(check, HttpCheck)
        if session is None:
            # force_close: one connection per probe, as the real probe does.
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        started = time.perf_counter()
        try:
            async with session.get(
                check.url, timeout=aiohttp.ClientTimeout(total=check.timeout_ms / 1000)
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            return ProbeResult(False, (time.perf_counter() - started) * 1000, "timeout")
        except aiohttp.ClientError as exc:
            return ProbeResult(False, (time.perf_counter() - started) * 1000, str(exc))
        ok = 200 <= status < 300
        return ProbeResult(ok, (time.perf_counter() - started) * 1000, None if ok else "status")

    async def close() -> None:
        if session is not None:
            await session.close()

    return probe_aiohttp, close


class CountingSink:
    """Stands in for the store: the benchmark measures probing, not the database.

    With ``store``, every batch is handed on to it first (the end-to-end variant), and
    counted once stored.
    """

    def __init__(self, store: ObservationSink | None = None) -> None:
        self.store = store
        self.observations = 0
        self.failures = 0
        self.failure_details: dict[str, int] = {}

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        if self.store is not None:
            await self.store.write(observations, heartbeat)
        self.observations += len(observations)
        for record in observations:
            if not record.ok and not record.end_of_observation:
                self.failures += 1
                detail = record.detail or "?"
                self.failure_details[detail] = self.failure_details.get(detail, 0) + 1


def cpu_seconds_self() -> float:
    times = os.times()
    return times.user + times.system


def postgres_sink(checks: Sequence[HttpCheck]) -> tuple[ObservationSink, Callable[[], float], Any]:
    """The embedded runner's store on a fresh PostgreSQL database: (sink, the server
    backends' CPU seconds so far, a function that drops the database)."""
    import live_store

    from app.runtime import upgrade
    from app.store.db import make_engine, session_factory
    from app.store.ingest import TimelineParams
    from app.store.late import LateAudit
    from app.store.sink import StoreSink

    url, name = live_store.database("postgres", "")
    upgrade(url)
    engine = make_engine(url)
    params = {check.key: TimelineParams(check.confirm, check.stale_after_ms) for check in checks}

    def finish() -> None:
        engine.dispose()
        live_store.drop(name)

    return (
        StoreSink(session_factory(engine), params, late=LateAudit("Asia/Tokyo")),
        lambda: live_store.server_cpu_seconds(name),
        finish,
    )


async def kadou_worker(args: argparse.Namespace) -> dict[str, Any]:
    client, _, store = args.variant.split("@")[0].partition("+")
    interval_ms = int(args.interval * 1000)
    checks = [
        HttpCheck(
            id="http",
            key=f"bench/svc-{n}/http",
            interval_ms=interval_ms,
            timeout_ms=min(5_000, interval_ms - 1),
            url=f"http://127.0.0.1:{args.port}/health/{n}",
        )
        for n in range(args.checks)
    ]
    close_probe: Callable[[], Awaitable[None]] | None = None
    probe: ProbeFn = run_probe
    if client == "raw":
        probe = probe_raw
    elif client == "aiohttp":
        probe, close_probe = make_aiohttp_probe()
    elif client == "httpx":
        probe, close_probe = make_httpx_probe()
    elif client != "kadou":
        raise SystemExit(f"unknown client {client!r}: use kadou, httpx, aiohttp or raw")
    database_cpu: Callable[[], float] = lambda: 0.0  # noqa: E731
    finish_store: Callable[[], None] | None = None
    if store == "postgres":
        store_sink, database_cpu, finish_store = postgres_sink(checks)
        sink = CountingSink(store_sink)
    elif store:
        raise SystemExit(f"unknown store {store!r}: use postgres")
    else:
        sink = CountingSink()
    lags_ms: list[float] = []
    measuring = False

    def on_lag(check: Check, lag_ms: float) -> None:
        if measuring:
            lags_ms.append(lag_ms)

    runner = ProbeRunner(checks, BatchingWriter(sink), "bench", probe=probe, on_schedule_lag=on_lag)
    # As `kadou probe` does before it starts probing; for every variant alike.
    settle_heap_for_probing()
    await runner.start()
    # Warm up for one interval: every check has fired once, connections and caches exist.
    await asyncio.sleep(args.interval)
    if store:
        # Storing the first results creates every timeline (the slow path, once): let the
        # writer catch up first, so the window measures the steady state, not that backlog.
        deadline = time.monotonic() + 10 * args.interval
        while (
            sink.observations < runner.stats.probes_finished - 2 * len(checks) / args.interval
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
    measuring = True
    cpu_start, wall_start = cpu_seconds_self(), time.monotonic()
    database_start, stored_start = database_cpu(), sink.observations
    probes_start, skipped_start = runner.stats.probes_finished, runner.stats.ticks_skipped
    await asyncio.sleep(args.duration)
    cpu_used, wall = cpu_seconds_self() - cpu_start, time.monotonic() - wall_start
    # The database's own CPU is part of storing a result: counted with the process's.
    database_used = database_cpu() - database_start
    cpu_used += database_used
    probes = runner.stats.probes_finished - probes_start
    stored = sink.observations - stored_start
    skipped = runner.stats.ticks_skipped - skipped_start
    measuring = False
    await runner.stop()
    if close_probe is not None:
        await close_probe()
    if finish_store is not None:
        finish_store()
    # End to end, the unit is a result stored (a probe whose result is still queued at
    # the end is not one); otherwise a probe taken.
    done = stored if store else probes
    result: dict[str, Any] = {
        "variant": args.variant,
        "probes": done,
        "probes_per_s": done / wall,
        "cpu_ms_per_probe": cpu_used * 1000 / done if done else float("nan"),
        "cpu_share_of_one_core": cpu_used / wall,
        "lag_p50_ms": percentile(lags_ms, 0.50),
        "lag_p99_ms": percentile(lags_ms, 0.99),
        "lag_max_ms": max(lags_ms, default=float("nan")),
        "ticks_skipped": skipped,
        "ticks_missed": runner.stats.ticks_missed,
        "failures": sink.failures,
        "failure_details": dict(sorted(sink.failure_details.items(), key=lambda kv: -kv[1])[:3]),
    }
    if store:
        result["database_cpu_ms_per_probe"] = database_used * 1000 / done if done else 0.0
    return result


def run_worker(args: argparse.Namespace) -> None:
    loop_kind = args.variant.split("@")[1] if "@" in args.variant else "asyncio"
    if loop_kind == "uvloop":
        import uvloop

        result = uvloop.run(kadou_worker(args))
    else:
        result = asyncio.run(kadou_worker(args))
    print(json.dumps(result), flush=True)


# -- blackbox_exporter's side -------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def drive_blackbox(args: argparse.Namespace, exporter_port: int, pid: int) -> dict[str, Any]:
    """Ask the exporter for each check's probe at its due time, as Prometheus would scrape.

    The driver is aiohttp with keep-alive (cheap on this side); its own CPU is not counted,
    only the exporter's.
    """
    interval_ms = int(args.interval * 1000)
    # The same per-check spread as Kadou's runner, so the load has the same shape.
    offsets = sorted(
        (schedule_offset_ms(f"bench/svc-{n}/http", interval_ms), n) for n in range(args.checks)
    )
    endpoint = f"http://127.0.0.1:{exporter_port}/probe"
    probes = 0
    failures = 0
    measuring = False
    lags_ms: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    get_text = await _keepalive_getter()

    async def one(n: int) -> None:
        nonlocal probes, failures
        text = await get_text(
            endpoint, {"target": f"http://127.0.0.1:{args.port}/health/{n}", "module": "http_2xx"}
        )
        if measuring:
            probes += 1
            if "probe_success 1" not in text:
                failures += 1
                if failures == 1:  # show why, once
                    print(f"first blackbox failure: {text[:1500]}", file=sys.stderr)

    async def fire_all(stop_at: float) -> None:
        now_ms = int(time.time() * 1000)
        cycle_start = now_ms - now_ms % interval_ms + interval_ms
        while time.monotonic() < stop_at:
            for offset, n in offsets:
                delay = (cycle_start + offset) / 1000 - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    if measuring:
                        lags_ms.append(-delay * 1000)
                    # Yield anyway, so a driver that falls behind cannot starve its requests.
                    await asyncio.sleep(0)
                if time.monotonic() >= stop_at:
                    return
                task = asyncio.create_task(one(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            cycle_start += interval_ms

    started = time.monotonic()
    driver = asyncio.create_task(fire_all(started + args.interval + args.duration))
    await asyncio.sleep(args.interval)  # warm-up, as for Kadou
    measuring = True
    cpu_start, wall_start = process_cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(args.duration)
    cpu_used, wall = process_cpu_seconds(pid) - cpu_start, time.monotonic() - wall_start
    counted = probes
    measuring = False
    await driver
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    await get_text.aclose()
    return {
        "variant": "blackbox_exporter",
        "probes": counted,
        "probes_per_s": counted / wall,
        "cpu_ms_per_probe": cpu_used * 1000 / counted if counted else float("nan"),
        "cpu_share_of_one_core": cpu_used / wall,
        "lag_p50_ms": percentile(lags_ms, 0.50),
        "lag_p99_ms": percentile(lags_ms, 0.99),
        "lag_max_ms": max(lags_ms, default=float("nan")),
        "ticks_skipped": 0,
        "ticks_missed": 0,
        "failures": failures,
        "failure_details": {},
    }


async def _keepalive_getter() -> Any:
    """An async ``get(url, params) -> text`` over keep-alive connections, with ``aclose``."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def get_with_aiohttp(url: str, params: dict[str, str]) -> str:
        async with session.get(url, params=params) as response:
            return await response.text()

    get_with_aiohttp.aclose = session.close  # type: ignore[attr-defined]
    return get_with_aiohttp


def run_blackbox(args: argparse.Namespace, workdir: Path) -> dict[str, Any] | None:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        print("blackbox_exporter not found: apt-get install -y prometheus-blackbox-exporter")
        return None
    config = workdir / "blackbox.yml"
    config.write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
    )
    port = free_port()
    exporter = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        return asyncio.run(drive_blackbox(args, port, exporter.pid))
    finally:
        exporter.send_signal(signal.SIGTERM)
        exporter.wait(10)


def run_blackbox_prometheus(args: argparse.Namespace, workdir: Path) -> dict[str, Any] | None:
    """The anchor end to end: Prometheus scrapes blackbox_exporter for every target at the
    interval and stores each result in its TSDB. CPU of both processes per result stored."""
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    prometheus = shutil.which("prometheus")
    if binary is None or prometheus is None:
        print("needs blackbox_exporter and prometheus: apt-get install -y prometheus ...")
        return None
    (workdir / "blackbox.yml").write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
    )
    exporter_port, prometheus_port = free_port(), free_port()
    interval = f"{int(args.interval * 1000)}ms"
    targets = [f"http://127.0.0.1:{args.port}/health/{n}" for n in range(args.checks)]
    (workdir / "prometheus.yml").write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": interval, "scrape_timeout": "5s"},
                "scrape_configs": [
                    {
                        "job_name": "blackbox",
                        "metrics_path": "/probe",
                        "params": {"module": ["http_2xx"]},
                        "static_configs": [{"targets": targets}],
                        "relabel_configs": [
                            {"source_labels": ["__address__"], "target_label": "__param_target"},
                            {"source_labels": ["__param_target"], "target_label": "instance"},
                            {
                                "target_label": "__address__",
                                "replacement": f"127.0.0.1:{exporter_port}",
                            },
                        ],
                    }
                ],
            }
        )
    )
    exporter = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'blackbox.yml'}",
            f"--web.listen-address=127.0.0.1:{exporter_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(exporter_port)
        wait_for_port(prometheus_port, 30)
        # Warm-up: every target scraped once (Prometheus spreads them over the interval).
        time.sleep(args.interval + 2)
        pids = (exporter.pid, server.pid)
        cpu_start, wall_start = sum(map(process_cpu_seconds, pids)), time.monotonic()
        time.sleep(args.duration)
        cpu_used = sum(map(process_cpu_seconds, pids)) - cpu_start
        wall = time.monotonic() - wall_start
        ended = time.time()
        time.sleep(2)  # let the last scrapes of the window be appended before counting

        def count(query: str) -> int:
            import urllib.parse
            import urllib.request

            url = f"http://127.0.0.1:{prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
                {"query": query, "time": f"{ended:.3f}"}
            )
            with urllib.request.urlopen(url, timeout=30) as response:
                result = json.load(response)["data"]["result"]
            return int(float(result[0]["value"][1])) if result else 0

        window = f"{int(wall * 1000)}ms"
        stored = count(f'sum(count_over_time(up{{job="blackbox"}}[{window}]))')
        succeeded = count(f'sum(sum_over_time(probe_success{{job="blackbox"}}[{window}]))')

    finally:
        for process in (server, exporter):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return {
        "variant": "blackbox+prometheus",
        "probes": stored,
        "probes_per_s": stored / wall,
        "cpu_ms_per_probe": cpu_used * 1000 / stored if stored else float("nan"),
        "cpu_share_of_one_core": cpu_used / wall,
        "lag_p50_ms": float("nan"),
        "lag_p99_ms": float("nan"),
        "lag_max_ms": float("nan"),
        "ticks_skipped": 0,
        "ticks_missed": 0,
        "failures": max(0, stored - succeeded),
        "failure_details": {},
    }


# -- the orchestrator -----------------------------------------------------------------


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.checks} checks every {args.interval:g} s, {args.duration:g} s measured per "
        f"variant, one connection per probe, target nginx on loopback, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'variant':<20} {'probes/s':>9} {'CPU ms/probe':>13} {'core %':>7} "
        f"{'lag p50 ms':>11} {'lag p99 ms':>11} {'lag max':>8} {'skipped':>8} {'failed':>7}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result['variant']:<20} {result['probes_per_s']:>9.1f} "
            f"{result['cpu_ms_per_probe']:>13.3f} {result['cpu_share_of_one_core'] * 100:>6.1f}% "
            f"{result['lag_p50_ms']:>11.1f} {result['lag_p99_ms']:>11.1f} "
            f"{result['lag_max_ms']:>8.0f} {result['ticks_skipped']:>8} {result['failures']:>7}"
        )
        if "database_cpu_ms_per_probe" in result:
            print(f"{'':<20} of which the database: {result['database_cpu_ms_per_probe']:.3f} ms")
        if result["failure_details"]:
            print(f"{'':<20} failures: {result['failure_details']}")
    blackbox = next(
        (r for r in results if r["variant"] in ("blackbox_exporter", "blackbox+prometheus")), None
    )
    if blackbox is not None:
        print()
        for result in results:
            if result is not blackbox:
                ratio = result["cpu_ms_per_probe"] / blackbox["cpu_ms_per_probe"]
                print(f"{result['variant']:<20} CPU per probe = {ratio:.2f} × blackbox_exporter's")
    print(
        "\nlag: actual probe start − scheduled time (Kadou); request sent − due time (the "
        "blackbox driver, which runs in this process, not the exporter)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument(
        "--variants",
        default="kadou,kadou@uvloop,httpx,aiohttp,raw,raw@uvloop",
        help="comma-separated client[@uvloop] list; clients: kadou, httpx, aiohttp, raw",
    )
    parser.add_argument("--no-blackbox", action="store_true")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="probe and store: kadou+postgres against blackbox_exporter + Prometheus "
        "(replaces --variants and the bare blackbox run)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    results = measure(args)
    print_table(results, args)
    if results:
        cpu_figures = [r["cpu_ms_per_probe"] for r in results]
        print(f"(median CPU ms/probe over variants: {statistics.median(cpu_figures):.3f})")


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the variants (each in its own process) and the anchor; one dict per variant.

    ``args`` holds ``checks``, ``interval``, ``duration``, ``variants``, ``no_blackbox``
    and ``end_to_end``, as the command line gives them.
    """
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kadou-bench-") as temporary:
        workdir = Path(temporary)
        nginx, port = start_nginx(workdir)
        args.port = port
        try:
            variants = [v.strip() for v in args.variants.split(",") if v.strip()]
            if args.end_to_end:
                variants = ["kadou+postgres"]
            for variant in variants:
                print(f"running {variant} ...", flush=True)
                worker = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        f"--variant={variant}",
                        f"--port={port}",
                        f"--checks={args.checks}",
                        f"--interval={args.interval}",
                        f"--duration={args.duration}",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if worker.returncode != 0:
                    print(f"{variant} failed:\n{worker.stderr[-2000:]}")
                    continue
                results.append(json.loads(worker.stdout.strip().splitlines()[-1]))
                print(f"  {json.dumps(results[-1])}", flush=True)
            if args.end_to_end:
                print("running blackbox_exporter + Prometheus ...", flush=True)
                anchor = run_blackbox_prometheus(args, workdir)
                if anchor is not None:
                    results.append(anchor)
                    print(f"  {json.dumps(anchor)}", flush=True)
            elif not args.no_blackbox:
                print("running blackbox_exporter ...", flush=True)
                blackbox = run_blackbox(args, workdir)
                if blackbox is not None:
                    results.append(blackbox)
                    print(f"  {json.dumps(blackbox)}", flush=True)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
    return results


if __name__ == "__main__":
    main()
