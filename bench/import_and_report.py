"""Import rate and monthly report time, on SQLite and PostgreSQL.

A month (October 2026, JST) of observations for every check of the built-in catalog at
N locations, with the sample scenario's outages, gaps and blips, goes through the real
validation and storage path (``parse_observation`` + ``store_observations``, one
transaction per day). Then the monthly report for all services is computed several times.
Run it at two probe intervals to see that the report's cost follows the number of state
changes, not the number of observations:

    python bench/import_and_report.py --interval 10
    python bench/import_and_report.py --interval 1 --backends sqlite

Besides wall time, storing is measured in CPU time (this process, and on PostgreSQL the
server backends, read from /proc on the same machine): on a busy machine wall time says
more about the neighbours than about Kadou. ``--days 3`` gives a shorter run with the
same per-day shape.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from sqlalchemy import create_engine, func, select, text

from app.catalog import load_catalog
from app.demo.sample import default_scenario, generate, month_bounds
from app.evaluation import evaluate_period, report_document
from app.observations import parse_observation
from app.runtime import upgrade
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import TimelineParams, store_observations
from app.store.models import CheckSegment, Observation

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(name: str | None) -> float:
    """CPU time so far of the PostgreSQL backends serving the bench database."""
    if name is None:
        return 0.0
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    total = 0
    with admin.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        ).scalars()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    admin.dispose()
    return total / CLOCK_TICKS


def database(backend: str, workdir: str) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{workdir}/bench.db", None
    name = f"kadou_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


def drop(name: str | None) -> None:
    if name is None:
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def spread(values: list[float]) -> str:
    """min / median / max of ``values``, in seconds to two decimals."""
    ordered = sorted(values)
    return f"{ordered[0]:.2f} / {statistics.median(ordered):.2f} / {ordered[-1]:.2f}"


def run(backend: str, interval_s: int, locations: int, days: int, reports: int) -> None:
    catalog = load_catalog()
    checks = catalog.checks()
    params = {k: TimelineParams(c.confirm, c.stale_after_ms) for k, c in checks.items()}
    start, _ = month_bounds(2026, 10, "Asia/Tokyo")
    scenario = default_scenario(2026, 10, "Asia/Tokyo")
    names = [f"loc{i + 1}" for i in range(locations)]
    with tempfile.TemporaryDirectory() as workdir:
        url, pg_name = database(backend, workdir)
        try:
            upgrade(url)
            engine = make_engine(url)
            sessions = session_factory(engine)
            total = 0
            import_seconds = 0.0
            store_seconds = 0.0
            store_cpu = 0.0
            server_cpu = 0.0
            for day in range(days):
                day_start = start + timedelta(days=day)
                records = list(
                    generate(
                        catalog,
                        day_start,
                        day_start + timedelta(days=1),
                        scenario,
                        locations=names,
                        interval_s=interval_s,
                        seed=day,
                    )
                )
                server_before = server_cpu_seconds(pg_name)
                began = time.perf_counter()
                batch = [parse_observation(r, checks, "bench") for r in records]
                parsed = time.perf_counter()
                cpu_before = time.process_time()
                with transaction(sessions) as session:
                    store_observations(session, batch, params)
                import_seconds += time.perf_counter() - began
                # Storage alone (with the commit), without validating the records.
                store_seconds += time.perf_counter() - parsed
                store_cpu += time.process_time() - cpu_before
                server_cpu += server_cpu_seconds(pg_name) - server_before
                total += len(records)
            with sessions() as session:
                segments = session.scalar(select(func.count()).select_from(CheckSegment))
                stored = session.scalar(select(func.count()).select_from(Observation))
            period = periods.month(2026, 10, "Asia/Tokyo")
            timings = []
            for _ in range(reports):
                began = time.perf_counter()
                with sessions() as session:
                    result = evaluate_period(session, catalog, period)
                document = report_document(catalog, result)
                timings.append(time.perf_counter() - began)
            info = next(s for s in document["services"] if s["system"] == "info-network")
            print(
                f"{backend:<8} interval {interval_s:>2}s  {locations} locations  {days} days: "
                f"{stored:,} observations imported in {import_seconds:.1f} s "
                f"= {total / import_seconds:,.0f} obs/s "
                f"(storing alone {total / store_seconds:,.0f} obs/s; CPU "
                f"{store_cpu * 1e6 / total:.1f} µs/obs"
                + (f" + server {server_cpu * 1e6 / total:.1f} µs/obs" if pg_name else "")
                + f"); {segments:,} segments; "
                f"monthly report (7 services + 5 systems) median {statistics.median(timings) * 1000:.0f} ms "
                f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}); "
                f"info-network/main {info['availability_display']}",
                flush=True,
            )
            engine.dispose()
        finally:
            drop(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=int, default=10, help="probe interval in seconds")
    parser.add_argument("--locations", type=int, default=2)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--reports", type=int, default=5, help="report computations to time")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend, args.interval, args.locations, args.days, args.reports)


if __name__ == "__main__":
    main()
