"""How the SLA core scales with the number of incidents in a period.

Two measurements:

* **Pure core**, for 1k, 2k, 4k, ... incidents in one month of one service: the time of
  ``find_incidents`` alone, and of everything a monthly report computes from the segments
  (``evaluate``, the state strip and the daily figures), each as µs per incident. Both
  columns must stay flat as the count doubles: a column that doubles with it is quadratic.
* **The monthly report from a database**: a SQLite database (created here, through the real
  migrations) holding one service with N incidents in October 2026, evaluated the way
  ``kadou report --month 2026-10`` does it (``evaluate_period`` + ``report_document``),
  with and without the strip and daily figures that HTML/PDF reports add.

    python bench/core_scaling.py                      # 1k ... 64k, and the 10k-incident month
    python bench/core_scaling.py --max-incidents 8000 --stop-after 10

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial

from sqlalchemy import insert

from app.catalog import parse_catalog
from app.evaluation import evaluate_period, report_document
from app.runtime import upgrade
from app.sla import periods
from app.sla.availability import UnknownPolicy
from app.sla.breakdown import daily_figures, state_strip
from app.sla.calendar import OperatingHours, from_ms
from app.sla.evaluate import Evaluation, ServiceInput, SystemInput, evaluate
from app.sla.exclusions import ExclusionKind, ExclusionWindow
from app.sla.incidents import find_incidents
from app.sla.intervals import IntervalSet
from app.sla.periods import Period, days_of
from app.sla.timeline import CheckState, Segment
from app.store.db import make_engine, session_factory, transaction
from app.store.models import CheckSegment

CHECK_KEY = "bench/main/http"
LOCATION = "tokyo"
CATALOG = """
timezone: Asia/Tokyo
systems:
  - id: bench
    name: {ja: ベンチ, en: Bench}
    target: 0.999
    recovery_target: 8h
    services:
      - id: main
        name: {ja: 本体, en: Main}
        target: 0.999
        checks:
          - {id: http, type: http, interval: 10s, timeout: 5s, url: "http://127.0.0.1:1/"}
"""


def month() -> Period:
    return periods.month(2026, 10, "Asia/Tokyo")


def outage_segments(period: Period, incidents: int) -> list[Segment]:
    """``incidents`` evenly spread outages (a quarter of each cycle down) over the period."""
    cycle = period.duration_ms // incidents
    down = max(1, cycle // 4)
    segments: list[Segment] = []
    for index in range(incidents):
        start = period.start_ms + index * cycle
        segments.append(Segment(start, start + cycle - down, CheckState.UP))
        segments.append(Segment(start + cycle - down, start + cycle, CheckState.DOWN))
    return segments


def planned_windows(period: Period) -> list[ExclusionWindow]:
    # One two-hour planned stop a week, so the schedule has holes the incidents cross.
    week = 7 * 86_400_000
    return [
        ExclusionWindow(start, start + 7_200_000, ExclusionKind.PLANNED)
        for start in range(period.start_ms + 3_600_000, period.end_ms, week)
    ]


def system_input(period: Period, incidents: int) -> SystemInput:
    service = ServiceInput(
        system_id="bench",
        service_id="main",
        target=Fraction(999, 1000),
        core=True,
        quorum=1,
        hours=OperatingHours(),
        recovery_target_ms=None,
        policy=UnknownPolicy.EXCLUDE,
        check_keys=(CHECK_KEY,),
        segments={(CHECK_KEY, LOCATION): outage_segments(period, incidents)},
        exclusions=planned_windows(period),
    )
    return SystemInput(
        "bench", Fraction(999, 1000), 8 * 3_600_000, UnknownPolicy.EXCLUDE, [service]
    )


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """The least CPU time of ``repeats`` runs, in seconds.

    CPU time of this process, not wall time: on a shared machine the wall clock mostly
    measures the other load. The fastest run is the least disturbed one.
    """
    timings = []
    for _ in range(repeats):
        began = time.process_time()
        action()
        timings.append(time.process_time() - began)
    return min(timings)


def pictures(evaluations: list[Evaluation], period: Period) -> None:
    days = days_of(period)
    for evaluation in evaluations:
        state_strip(evaluation)
        daily_figures(evaluation, days)


def report_pictures(system: SystemInput, period: Period, cutoff: int) -> None:
    evaluations = evaluate([system], period, cutoff, period.start_ms, period.end_ms)
    pictures(evaluations, period)


def pure_scaling(max_incidents: int, stop_after_s: float, repeats: int) -> dict[int, float]:
    """Print the table; returns µs per incident of evaluate+strip+daily, by incidents."""
    period = month()
    cutoff = period.end_ms + 86_400_000
    print("pure core, one service, October 2026 (CPU µs per incident, best of runs)")
    print(f"{'incidents':>10} {'find_incidents':>15} {'evaluate+strip+daily':>21}")
    figures: dict[int, float] = {}
    incidents = 1000
    while incidents <= max_incidents:
        system = system_input(period, incidents)
        down = IntervalSet(
            (segment.start_ms, segment.end_ms)
            for segment in system.services[0].segments[(CHECK_KEY, LOCATION)]
            if segment.state is CheckState.DOWN
        )
        counted = down - IntervalSet((w.start_ms, w.end_ms) for w in planned_windows(period))
        found = find_incidents(down, counted, period.start_ms, period.end_ms, cutoff, None)
        assert len(found) == incidents, (len(found), incidents)
        find_s = best_of(
            repeats,
            partial(find_incidents, down, counted, period.start_ms, period.end_ms, cutoff, None),
        )
        full_s = best_of(repeats, partial(report_pictures, system, period, cutoff))
        figures[incidents] = full_s / incidents * 1e6
        print(
            f"{incidents:>10,} {find_s / incidents * 1e6:>15.2f} {full_s / incidents * 1e6:>21.2f}",
            flush=True,
        )
        if max(find_s, full_s) > stop_after_s:
            print(f"  (stopping: one run took over {stop_after_s:g} s)")
            break
        incidents *= 2
    return figures


def database_month(incidents: int, repeats: int) -> dict[bool, float]:
    """Print the figures; returns the median CPU seconds, without and with pictures."""
    period = month()
    catalog = parse_catalog(CATALOG, "bench")
    now = datetime(2026, 11, 2, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        rows = [
            {
                "check": CHECK_KEY,
                "location": LOCATION,
                "start_at": from_ms(segment.start_ms),
                "end_at": from_ms(segment.end_ms),
                "state": segment.state.value,
            }
            for segment in outage_segments(period, incidents)
        ]
        with transaction(sessions) as session:
            session.execute(insert(CheckSegment), rows)

        def report(with_pictures: bool) -> None:
            with sessions() as session:
                result = evaluate_period(session, catalog, period, now=now)
            document = report_document(catalog, result, pictures=with_pictures)
            found = len(document["services"][0]["incidents"])
            assert found == incidents, (found, incidents)

        medians: dict[bool, float] = {}
        for with_pictures in (False, True):
            walls, cpus = [], []
            for _ in range(repeats):
                began, began_cpu = time.perf_counter(), time.process_time()
                report(with_pictures)
                walls.append(time.perf_counter() - began)
                cpus.append(time.process_time() - began_cpu)
            what = (
                "report with strip + daily (html/pdf)" if with_pictures else "report (table/json)"
            )
            print(
                f"SQLite, {incidents:,} incidents in 2026-10, {what}: "
                f"CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f}), "
                f"wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}), "
                f"{repeats} runs",
                flush=True,
            )
            medians[with_pictures] = statistics.median(cpus)
        engine.dispose()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-incidents", type=int, default=64_000)
    parser.add_argument(
        "--stop-after", type=float, default=30.0, help="stop doubling once a run takes this long"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--month-incidents", type=int, default=10_000)
    args = parser.parse_args()
    pure_scaling(args.max_incidents, args.stop_after, args.repeats)
    if args.month_incidents:
        database_month(args.month_incidents, args.repeats)


if __name__ == "__main__":
    main()
