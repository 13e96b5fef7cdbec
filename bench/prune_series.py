"""How long ``kadou db prune`` takes to delete with many series and few rows each.

``--series`` (check, location) series of ``--rows`` observations each (one a minute, every
tenth a failure) are stored, then everything before each series' last success before the
cut (two thirds of the way in) is deleted with :func:`app.store.prune.delete_before`, in
batches of 10,000 rows. Wall time and CPU time (this process's, plus the PostgreSQL
backends' on PostgreSQL) are printed, min / median / max over ``--repeat`` fresh databases.

    .venv/bin/python bench/prune_series.py [--series 2000] [--rows 300] [--backend both]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from import_and_report import database, drop, server_cpu_seconds, spread
from sqlalchemy import Engine, func, select, text

from app.runtime import upgrade
from app.store.db import make_engine, session_factory
from app.store.models import Observation
from app.store.prune import delete_before, prune_bounds

START = datetime(2026, 6, 1, tzinfo=UTC)


def fill(engine: Engine, backend: str, series: int, rows: int) -> None:
    """``rows`` observations a minute apart for each of ``series`` checks."""
    if backend == "postgresql":
        instant = "timestamptz '2026-06-01' + (i / :series) * interval '1 minute'"
        numbers = "generate_series(0, :n - 1) AS g(i)"
        prefix = ""
    else:
        # SQLite keeps instants as UTC text in SQLAlchemy's format, which sorts in time order.
        instant = (
            "strftime('%Y-%m-%d %H:%M:%S', '2026-06-01', '+' || (i / :series) || ' minutes')"
            " || '.000000'"
        )
        numbers = "n"
        prefix = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :n - 1) "
    with engine.begin() as connection:
        connection.execute(
            text(
                f"{prefix}INSERT INTO observations "
                "SELECT 'bench/check-' || (i % :series) || '/http', 'tokyo', "
                f"{instant}, (i / :series) % 10 <> 9, 12.5, NULL FROM {numbers}"
            ),
            {"n": series * rows, "series": series},
        )


def once(backend: str, series: int, rows: int) -> tuple[float, float, int]:
    """(wall s, CPU s, rows deleted) of one prune of a fresh database."""
    with tempfile.TemporaryDirectory() as workdir:
        url, name = database(backend, workdir)
        try:
            upgrade(url)
            engine = make_engine(url)
            sessions = session_factory(engine)
            fill(engine, backend, series, rows)
            with sessions() as session:
                assert session.execute(select(func.count(Observation.check))).scalar_one() == (
                    series * rows
                )
                bounds = prune_bounds(session, START + timedelta(minutes=rows * 2 // 3))
            assert len(bounds) == series
            wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu_seconds(name)
            deleted, _ = delete_before(sessions, bounds)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu + server_cpu_seconds(name) - server
            engine.dispose()
            return wall, cpu, deleted
        finally:
            drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        runs = [once(backend, args.series, args.rows) for _ in range(args.repeat)]
        print(
            f"{backend}: {args.series:,} series x {args.rows} rows, deleted {runs[0][2]:,}; "
            f"s (min / median / max): wall {spread([r[0] for r in runs])}, "
            f"CPU {spread([r[1] for r in runs])}"
        )


if __name__ == "__main__":
    main()
