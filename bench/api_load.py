"""Load on the HTTP service: wrk against reads, and the ingest rate of POST /api/v1/results.

    .venv/bin/python bench/api_load.py [--duration 10] [--connections 16] [--skip-postgres]

1. A SQLite database with the default catalog and a month of sample data (`kadou sample`
   for the current month + `kadou import`), served by `app.serve.serve` (no probes).
2. `wrk --latency` against GET /api/v1/systems and GET /metrics, and /healthz as the
   trivial endpoint they are compared with: requests/s, p99 and the server's CPU time per
   request (the steadier figure on a shared machine). `--token-cache-seconds 0` verifies
   the token against the database on every request (as before the token cache);
   `--loops uvloop,asyncio` serves the reads on each event loop in turn.
3. POST /api/v1/results batches (1,000 observations each, one client) into an empty SQLite
   database and, when reachable, an empty PostgreSQL database: observations stored per
   second, answered only after each commit.

Prints figures; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
KADOU = [sys.executable, "-c", "from app.cli import main; main()"]
PG_ADMIN_URL = os.environ.get(
    "KADOU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def kadou(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*KADOU, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"kadou {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], loop: str = "auto") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        code = (
            "from app.serve import serve; "
            f"serve('127.0.0.1', {self.port}, with_probes=False, loop={loop!r})"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system, all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        self.process.wait(timeout=30)


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url: str, token: str, duration: int, connections: int) -> tuple[float, float, int]:
    """(requests/s, p99 seconds, non-2xx responses)."""
    done = subprocess.run(
        [
            "wrk",
            f"-t{min(4, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    output = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return (
        rate,
        _seconds(p99.group(1), p99.group(2)) if p99 else float("nan"),
        int(errors.group(1)) if errors else 0,
    )


def ingest_rate(env: dict[str, str], batches: int, batch_size: int) -> tuple[float, float]:
    """(observations stored per second, mean seconds per batch) on a fresh database."""
    kadou(env, "db", "upgrade")
    token = kadou(env, "token", "create", "--name", "bench-prober", "--role", "prober")
    server = Server(env)
    checks = [
        "card-management/main/http",
        "jpki/main/http",
        "info-network/main/http",
        "mynaportal/records/http",
        "account-registration/main/http",
    ]
    start = datetime(2026, 9, 1, tzinfo=UTC)
    headers = {"Authorization": f"Bearer {token}"}
    stored = 0
    try:
        with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
            began = time.perf_counter()
            for number in range(batches):
                # Consecutive 10-second probes of each check, as an agent sends them.
                first = number * batch_size // len(checks)
                observations = [
                    {
                        "check": checks[index % len(checks)],
                        "location": "bench",
                        "observed_at": (
                            start + timedelta(seconds=10 * (first + index // len(checks)))
                        ).isoformat(),
                        "ok": (first + index) % 97 != 0,
                        "latency_ms": 12.0,
                        "detail": None,
                    }
                    for index in range(batch_size)
                ]
                response = client.post("/api/v1/results", json={"observations": observations})
                response.raise_for_status()
                stored += response.json()["stored"]
            elapsed = time.perf_counter() - began
    finally:
        server.stop()
    return stored / elapsed, elapsed / batches


READ_PATHS = ("/api/v1/systems", "/metrics", "/healthz")


def bench_env(token_cache_seconds: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KADOU_")}
    # The scheduled export would render last month's PDFs at start-up, during the runs.
    env["KADOU_REPORT_EXPORT"] = "false"
    if token_cache_seconds is not None:
        env["KADOU_TOKEN_CACHE_SECONDS"] = str(token_cache_seconds)
    return env


def prepare_reads(work: Path, base_env: dict[str, str]) -> str:
    """A SQLite database with the default catalog and this month's sample so far; a viewer
    token for it."""
    env = {**base_env, "KADOU_DATABASE_URL": f"sqlite:///{work}/reads.db"}
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    month = f"{now.year:04d}-{now.month:02d}"
    print(f"preparing: default catalog, sample month {month} in {work}", flush=True)
    kadou(env, "db", "upgrade")
    sample = work / "sample.jsonl"
    began = time.perf_counter()
    print("  " + kadou(env, "sample", "--month", month, "--out", str(sample)), flush=True)
    # The sample covers the whole month; observations from the future are refused.
    cutoff = datetime.now(UTC)
    with sample.open() as lines:
        past = [
            line
            for line in lines
            if datetime.fromisoformat(json.loads(line)["observed_at"]) <= cutoff
        ]
    sample.write_text("".join(past))
    print("  " + kadou(env, "import", str(sample)), f"({time.perf_counter() - began:.1f} s)")
    return kadou(env, "token", "create", "--name", "bench-viewer", "--role", "viewer")


def measure_reads(
    env: dict[str, str], token: str, loop: str, duration: int, connections: int
) -> dict[str, tuple[float, float, float]]:
    """wrk against each of READ_PATHS on one server: {path: (req/s, p99 s, CPU ms/req)}."""
    figures: dict[str, tuple[float, float, float]] = {}
    server = Server(env, loop)
    try:
        # Warm the current-state snapshot and the metrics cache once.
        httpx.get(server.base + "/metrics", headers={"Authorization": f"Bearer {token}"})
        for path in READ_PATHS:
            cpu_before = server.cpu_seconds()
            rate, p99, errors = wrk(server.base + path, token, duration, connections)
            # CPU per request: the machine may be shared, so the rate alone misleads.
            cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / (rate * duration)
            figures[path] = (rate, p99, cpu_ms)
            print(
                f"  GET {path:<18} {rate:9.1f} req/s   p99 {p99 * 1000:8.1f} ms   "
                f"server CPU {cpu_ms:6.3f} ms/req   non-2xx {errors}",
                flush=True,
            )
    finally:
        server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--reads-only", action="store_true", help="skip the ingest runs")
    parser.add_argument(
        "--token-cache-seconds", type=float, default=None, help="KADOU_TOKEN_CACHE_SECONDS"
    )
    parser.add_argument(
        "--loops",
        default="auto",
        help="comma-separated uvicorn loops for the reads, e.g. uvloop,asyncio,uvloop,asyncio "
        "(auto: uvloop when installed, as kadou serve runs)",
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`)")

    work = Path(tempfile.mkdtemp(prefix="kadou-bench-"))
    base_env = bench_env(options.token_cache_seconds)
    token = prepare_reads(work, base_env)
    for loop in options.loops.split(","):
        print(
            f"\nwrk: {options.connections} connections, {options.duration} s each, "
            f"one uvicorn worker, loop={loop}"
        )
        measure_reads(
            {**base_env, "KADOU_DATABASE_URL": f"sqlite:///{work}/reads.db"},
            token,
            loop,
            options.duration,
            options.connections,
        )
    if options.reads_only:
        shutil.rmtree(work, ignore_errors=True)
        return

    print(f"\ningest: {options.batches} batches of {options.batch_size} observations, one client")
    targets = [("SQLite", f"sqlite:///{work}/ingest.db")]
    pg_database = None
    if not options.skip_postgres:
        try:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            pg_database = f"kadou_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{pg_database}"'))
            targets.append(("PostgreSQL", PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_database))
        except Exception as error:  # no server: report and go on with SQLite
            print(f"  PostgreSQL skipped: {error.__class__.__name__}")
            pg_database = None
    try:
        for name, url in targets:
            rate, per_batch = ingest_rate(
                {**base_env, "KADOU_DATABASE_URL": url}, options.batches, options.batch_size
            )
            print(f"  {name:<10} {rate:9.0f} observations/s   {per_batch * 1000:7.1f} ms per batch")
    finally:
        if pg_database is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)'))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
