"""What monthly partitions buy retention on PostgreSQL, and what the upgrade costs.

1. Removing a month of observations: deleting them in batches of 10,000 (what SQLite does,
   and PostgreSQL before partitions) against dropping their partition (with the recount
   of rows to keep that precedes every drop). CPU is this process's plus the PostgreSQL
   backends'; the batched delete also leaves dead rows for autovacuum, not counted here.
2. ``kadou db upgrade`` from schema 0005 on a table of ``--upgrade-rows`` observations: the
   old table is attached as a partition after one read of it, not copied.

Each is measured ``--repeat`` times on a fresh database; min / median / max are printed.

    .venv/bin/python bench/partitions.py [--rows 500000] [--upgrade-rows 2000000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from import_and_report import database, drop, server_cpu_seconds, spread
from sqlalchemy import Engine, text

from app.runtime import upgrade
from app.store import partitions
from app.store.db import make_engine, session_factory
from app.store.prune import delete_before

CHECKS = 20
FAR = datetime(2030, 1, 1, tzinfo=UTC)
BOUNDS = {(f"bench/check-{i}/http", "tokyo"): FAR for i in range(CHECKS)}


def fill(engine: Engine, rows: int, step: str) -> None:
    """``rows`` observations of 20 checks from 1 June 2026 (Tokyo's June partition)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO observations SELECT 'bench/check-' || (i % 20) || '/http', "
                f"'tokyo', timestamptz '2026-06-01' + (i / 20) * interval '{step}', true, "
                "12.5, NULL FROM generate_series(0, :n - 1) AS i"
            ),
            {"n": rows},
        )


def removal(rows: int) -> tuple[float, float]:
    """(CPU s deleting in batches, CPU s dropping the partition) for ``rows`` rows."""
    url, name = database("postgresql", "/tmp")
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        partitions.maintain(sessions, "Asia/Tokyo", datetime(2026, 6, 5, tzinfo=UTC))
        fill(engine, rows, "1 second")
        cpu, server = time.process_time(), server_cpu_seconds(name)
        deleted, _ = delete_before(sessions, BOUNDS)
        batched = time.process_time() - cpu + server_cpu_seconds(name) - server
        assert deleted == rows
        fill(engine, rows, "1 second")
        with engine.connect() as connection:
            june = next(
                item
                for item in partitions.partitions(connection)
                if item.name == "observations_2026_06"
            )
        cpu, server = time.process_time(), server_cpu_seconds(name)
        with sessions() as session, session.begin():
            dropped = partitions.drop_if_all_pruned(session.connection(), june, BOUNDS)
        dropping = time.process_time() - cpu + server_cpu_seconds(name) - server
        assert dropped
        engine.dispose()
        return batched, dropping
    finally:
        drop(name)


def upgrading(rows: int) -> tuple[float, int]:
    """(wall s of the upgrade 0005 -> 0006, bytes of the table) for ``rows`` rows.

    Wall time: the work is one statement's read in a backend that ends with the upgrade.
    """
    url, name = database("postgresql", "/tmp")
    try:
        upgrade(url, "0005")
        engine = make_engine(url)
        fill(engine, rows, "10 seconds")
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE observations")
            )
            size = connection.execute(
                text("SELECT pg_total_relation_size('observations')")
            ).scalar_one()
        engine.dispose()
        started = time.perf_counter()
        upgrade(url)
        return time.perf_counter() - started, int(size)
    finally:
        drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--upgrade-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    removals = [removal(args.rows) for _ in range(args.repeat)]
    print(
        f"removing {args.rows:,} observations, CPU s (min / median / max): "
        f"batched delete {spread([item[0] for item in removals])}, "
        f"partition drop {spread([item[1] for item in removals])}"
    )
    upgrades = [upgrading(args.upgrade_rows) for _ in range(args.repeat)]
    print(
        f"kadou db upgrade to partitions with {args.upgrade_rows:,} observations "
        f"({upgrades[0][1] / 1e6:.0f} MB), wall s (min / median / max): "
        f"{spread([item[0] for item in upgrades])}"
    )


if __name__ == "__main__":
    main()
