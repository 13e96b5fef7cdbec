"""Bytes per stored observation on PostgreSQL, monthly-partitioned or not, and SQLite.

Stores 100,000 observations (20 checks every 10 s, successes with a latency) in a fresh
database through the ingest path, in transactions of 1,000, instant by instant as live
probes arrive (``--by-check``: check by check, as an import of a sorted file), then prints the observations
table's bytes (data and indexes, as ``kadou db stats`` counts them, after VACUUM ANALYZE so
the figure does not depend on when autovacuum ran) and the CPU time of storing: this
process's plus the PostgreSQL backend's. Each layout is measured ``--repeat`` times.

    .venv/bin/python bench/storage.py [--repeat 3] [--by-check]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from import_and_report import database, drop, server_cpu_seconds
from sqlalchemy import text

from app.runtime import upgrade
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.stats import database_size

CHECKS = 20
ROWS = 100_000
BATCH = 1_000
PARAMS = {f"bench/check-{i:02d}/http": TimelineParams(2, 90_000) for i in range(CHECKS)}


def _start() -> datetime:
    """An hour into this month (Tokyo): the rows land in a monthly partition."""
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    return local.replace(day=1, hour=1, minute=0, second=0, microsecond=0)


def once(layout: str, by_check: bool) -> tuple[float, float, int]:
    """(bytes per observation, CPU seconds storing, partitions) for one fresh database."""
    with tempfile.TemporaryDirectory() as workdir:
        backend = "sqlite" if layout == "sqlite" else "postgresql"
        url, name = database(backend, workdir)
        try:
            upgrade(url, "0005" if layout == "plain" else "head")
            engine = make_engine(url)
            sessions = session_factory(engine)
            start = _start()
            checks = sorted(PARAMS)
            steps = ROWS // CHECKS
            cpu = time.process_time()
            server = server_cpu_seconds(name)
            every = [
                ObservationIn(
                    check,
                    "tokyo",
                    start + timedelta(seconds=10 * step),
                    True,
                    latency_ms=12.5 + step % 40,
                )
                for step in range(steps)
                for check in checks
            ]
            if by_check:
                every.sort(key=lambda item: item.check)
            for first in range(0, ROWS, BATCH):
                with transaction(sessions) as session:
                    store_observations(session, every[first : first + BATCH], PARAMS)
            cpu = time.process_time() - cpu + server_cpu_seconds(name) - server
            with engine.connect() as connection:
                if backend == "postgresql":
                    connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text("VACUUM ANALYZE observations")
                    )
            size = database_size(engine)
            engine.dispose()
            observations = size.table("observations")
            assert observations is not None and observations.rows == ROWS
            assert observations.bytes_per_row is not None
            return observations.bytes_per_row, cpu, len(size.partitions)
        finally:
            drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--by-check",
        action="store_true",
        help="store each check's results in a row (an import of a file sorted by check) "
        "instead of all checks' results instant by instant, as probes arrive live",
    )
    args = parser.parse_args()
    for layout in ("plain", "partitioned", "sqlite"):
        runs = [once(layout, args.by_check) for _ in range(args.repeat)]
        sizes = sorted(item[0] for item in runs)
        cpus = sorted(item[1] for item in runs)
        label = {
            "plain": "PostgreSQL, one table (schema 0005)",
            "partitioned": f"PostgreSQL, monthly partitions ({runs[0][2]} partitions)",
            "sqlite": "SQLite",
        }[layout]
        print(
            f"{label}: {sizes[0]:.1f} / {statistics.median(sizes):.1f} / {sizes[-1]:.1f} "
            f"bytes per observation; CPU storing {ROWS:,}: {cpus[0]:.2f} / "
            f"{statistics.median(cpus):.2f} / {cpus[-1]:.2f} s (min / median / max)"
        )


if __name__ == "__main__":
    main()
