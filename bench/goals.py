"""The performance goals, side by side in one run: one table, each goal met or not.

Calls the other benchmarks (their own code, with short settings) and prints what each
measured against its goal:

- live storing, CPU ms per observation at 2,000 checks every 10 s, SQLite and PostgreSQL
  (``live_store.py``, the embedded runner's shape): ≤ 0.5 ms;
- probe CPU against blackbox_exporter's in the same run, 2,000 checks every 10 s
  (``probe_throughput.py``): ≤ 0.5×;
- µs per incident of a month's evaluation, strip and daily figures from 1k to 64k
  incidents (``core_scaling.py``): flat, taken as the largest no more than 1.5× the
  smallest (a quadratic core doubles with every step, 64× over the range);
- a month with 10,000 incidents on one service, ``kadou report`` from a database
  (``core_scaling.py``): < 1 s;
- the monthly PDF of the default catalog (7 services) < 1 s and of 200 services < 5 s
  (``report_render.py``);
- the overview page of 1,000 services, uncached (``web_overview.py``): < 200 ms;
- cached reads with a bearer token, ``GET /api/v1/systems`` and ``/metrics``, within 3× of
  a trivial endpoint's (``/healthz``) throughput under wrk (``api_load.py``).

Every figure but the cached reads' (requests per second, measured as wrk sees them) is CPU
time, not wall time: on a shared machine wall time says more about the
neighbours than about Kadou. The PostgreSQL server's own CPU per observation is shown
beside the storing figure. One run takes about five minutes (the overview's month of
744,000 observations is imported first).

    python bench/goals.py
    python bench/goals.py --only storing,overview

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Row = tuple[str, str, str, bool | None]  # (goal, measured, target, met; None: not measured)


def storing() -> list[Row]:
    import live_store

    rows: list[Row] = []
    for backend, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        try:
            figures = live_store.run(backend, 2000, 10, 20, 0.002, "sink")
        except Exception as error:  # PostgreSQL not reachable: say so, go on
            rows.append((f"live storing, {name}", f"not run: {error}", "≤ 0.5 ms/obs", None))
            continue
        server = f" (+ server {figures['server']:.3f})" if backend == "postgres" else ""
        rows.append(
            (
                f"live storing, {name}, 2,000 checks / 10 s",
                f"{figures['cpu']:.3f} ms/obs{server}",
                "≤ 0.5 ms/obs",
                figures["cpu"] <= 0.5,
            )
        )
    return rows


def probing() -> list[Row]:
    import probe_throughput

    args = argparse.Namespace(
        checks=2000, interval=10.0, duration=20.0, variants="kadou", no_blackbox=False
    )
    args.end_to_end = False
    results = {result["variant"]: result for result in probe_throughput.measure(args)}
    kadou, blackbox = results.get("kadou"), results.get("blackbox_exporter")
    if kadou is None or blackbox is None:
        return [("probe CPU vs blackbox_exporter", "not measured", "≤ 0.5×", None)]
    ratio = kadou["cpu_ms_per_probe"] / blackbox["cpu_ms_per_probe"]
    return [
        (
            "probe CPU vs blackbox_exporter, 2,000 checks / 10 s",
            f"{ratio:.2f}× ({kadou['cpu_ms_per_probe']:.3f} vs "
            f"{blackbox['cpu_ms_per_probe']:.3f} ms/probe)",
            "≤ 0.5×",
            ratio <= 0.5,
        )
    ]


def incidents() -> list[Row]:
    import core_scaling

    per_incident = core_scaling.pure_scaling(64_000, 20.0, 2)
    smallest, largest = min(per_incident), max(per_incident)
    spread = per_incident[largest] / per_incident[smallest]
    month = core_scaling.database_month(10_000, 1)
    return [
        (
            f"µs per incident, {smallest:,} to {largest:,} incidents",
            f"{per_incident[smallest]:.1f} → {per_incident[largest]:.1f} µs ({spread:.2f}×)",
            "flat (≤ 1.5×), to 64,000",
            spread <= 1.5 and largest >= 64_000,
        ),
        (
            "month of 10,000 incidents, kadou report",
            f"{month[False]:.3f} s (with strip + daily: {month[True]:.3f} s)",
            "< 1 s",
            month[False] < 1.0,
        ),
    ]


def pdf() -> list[Row]:
    import report_render

    rows: list[Row] = []
    for services, goal_s in ((7, 1.0), (200, 5.0)):
        wall, cpu = report_render.monthly_pdf(services)
        print(f"monthly PDF, {services} services: CPU {cpu:.2f} s, wall {wall:.2f} s", flush=True)
        rows.append(
            (
                f"monthly PDF, {services} services, {report_render.pdf_renderer()}",
                f"{cpu:.2f} s",
                f"< {goal_s:g} s",
                cpu < goal_s,
            )
        )
    return rows


def overview() -> list[Row]:
    import web_overview

    figures = web_overview.run(
        "generated catalog, October 2026 hourly",
        web_overview.generated_catalog(1000),
        web_overview.import_generated_month,
        200,
    )
    return [
        (
            "overview, 1,000 services, uncached",
            f"{figures['cold']:.0f} ms",
            "< 200 ms",
            figures["cold"] < 200,
        )
    ]


def reads() -> list[Row]:
    import shutil
    import tempfile

    import api_load

    if shutil.which("wrk") is None:
        return [("cached reads", "not run: wrk is not installed", "≤ 3× /healthz", None)]
    work = Path(tempfile.mkdtemp(prefix="kadou-bench-"))
    try:
        env = api_load.bench_env()
        token = api_load.prepare_reads(work, env)
        figures = api_load.measure_reads(
            {**env, "KADOU_DATABASE_URL": f"sqlite:///{work}/reads.db"}, token, "auto", 10, 16
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    trivial = figures["/healthz"][0]
    rows: list[Row] = []
    for path in ("/api/v1/systems", "/metrics"):
        rate = figures[path][0]
        rows.append(
            (
                f"cached reads, GET {path} vs /healthz",
                f"{rate:.0f} vs {trivial:.0f} req/s ({trivial / rate:.2f}×)",
                "≤ 3× /healthz",
                trivial / rate <= 3,
            )
        )
    return rows


PARTS: dict[str, Callable[[], list[Row]]] = {
    "storing": storing,
    "probing": probing,
    "incidents": incidents,
    "pdf": pdf,
    "overview": overview,
    "reads": reads,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help="e.g. storing,overview")
    args = parser.parse_args()
    rows: list[Row] = []
    for name in args.only.split(","):
        print(f"\n== {name}", flush=True)
        rows += PARTS[name.strip()]()
    width = max(len(goal) for goal, *_ in rows)
    measured_width = max(len(measured) for _, measured, *_ in rows)
    print("\nGoals (CPU time, one run, this machine):")
    for goal, measured, target, met in rows:
        verdict = "not measured" if met is None else "met" if met else "NOT MET"
        print(f"  {goal:<{width}}  {measured:<{measured_width}}  {target:<24} {verdict}")


if __name__ == "__main__":
    main()
