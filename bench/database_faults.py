"""`kadou serve` with its PostgreSQL behind a fault proxy: what a client sees in an outage.

    .venv/bin/python bench/database_faults.py [--polls 10]

For a black hole (accepts, never answers) and a refusal: /healthz and /readyz latency, the
time and status of API reads during the outage, and how long after the database returns
/readyz is 200 again. Needs the PostgreSQL test server (KADOU_TEST_POSTGRES_URL).

Prints figures; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from api_load import PG_ADMIN_URL, Server, kadou  # noqa: E402

from tests.support.faultproxy import FaultProxy, Mode  # noqa: E402


def timed(client: httpx.Client, path: str, headers: dict[str, str]) -> tuple[float, int]:
    began = time.perf_counter()
    status = client.get(path, headers=headers).status_code
    return time.perf_counter() - began, status


def summary(samples: list[tuple[float, int]]) -> str:
    seconds = [s for s, _ in samples]
    statuses = sorted({status for _, status in samples})
    return (
        f"p50 {statistics.median(seconds) * 1000:7.1f} ms, max {max(seconds) * 1000:7.1f} ms, "
        f"statuses {statuses}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=10)
    options = parser.parse_args()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"kadou_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KADOU_")}
    env.update(KADOU_DATABASE_URL=proxied, KADOU_REPORT_EXPORT="false")
    server = None
    try:
        kadou(env, "db", "upgrade")
        token = kadou(env, "token", "create", "--name", "bench-viewer", "--role", "viewer")
        headers = {"Authorization": f"Bearer {token}"}
        server = Server(env)
        with httpx.Client(base_url=server.base, timeout=120) as client:
            for fault in (Mode.BLACK_HOLE, Mode.REFUSE):
                client.get("/api/v1/systems", headers=headers).raise_for_status()
                proxy.mode = fault
                began = time.perf_counter()
                first = timed(client, "/api/v1/systems", headers)
                reads = [timed(client, "/api/v1/systems", headers) for _ in range(options.polls)]
                health = [timed(client, "/healthz", {}) for _ in range(options.polls)]
                ready = [timed(client, "/readyz", {}) for _ in range(options.polls)]
                # By now a check has waited long enough for the outage to be known.
                known = [timed(client, "/api/v1/systems", headers) for _ in range(options.polls)]
                outage = time.perf_counter() - began
                proxy.mode = Mode.PASS
                back = time.perf_counter()
                while client.get("/readyz").status_code != 200:
                    time.sleep(0.05)
                recovered = time.perf_counter() - back
                print(f"{fault.value} ({outage:.1f} s):")
                print(f"  first API read     {first[0] * 1000:7.1f} ms, status {first[1]}")
                print(f"  API reads at once  {summary(reads)}")
                print(f"  /healthz           {summary(health)}")
                print(f"  /readyz            {summary(ready)}")
                print(f"  API reads then     {summary(known)}")
                print(f"  ready again {recovered:.2f} s after the database returned")
    finally:
        if server is not None:
            server.stop()
        proxy.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
