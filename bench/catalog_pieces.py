"""What a catalog change in the middle of a month costs a monthly report (SLA-SEMANTICS §8).

A SQLite database (created here, through the real migrations) holds N services with one
check each, probed every 5 minutes through October 2026. The month is evaluated the way
``kadou report --month 2026-10`` does it (``evaluate_period`` + ``report_document``) in
three databases that differ only in their catalog history:

* **one version**: the whole month under one catalog (the path every month without a
  change takes);
* **hours changed**: a second version from 16 October changes every service's operating
  hours (each service evaluated in two pieces);
* **confirm changed**: a second version from 16 October changes every check's ``confirm``
  (each check's first half labelled again from its observations);
* **confirm changed after the month**: the change takes effect on 2 November; October
  keeps its own ``confirm`` (each check's whole month labelled again).

    python bench/catalog_pieces.py                    # 20 services
    python bench/catalog_pieces.py --services 200

Each case is evaluated first as a fresh process would, then again as the same process
does on its next /metrics refresh (relabelled parts kept while their observations are
unchanged). Prints CPU seconds (min / median / max of the repeats); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app import evaluation
from app.catalog import parse_catalog
from app.catalog.model import Catalog
from app.evaluation import evaluate_period, report_document
from app.history import record_catalog
from app.runtime import upgrade
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations

JST = ZoneInfo("Asia/Tokyo")
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
CHANGE = datetime(2026, 10, 16, tzinfo=JST)
NOW = datetime(2026, 11, 3, tzinfo=JST)
AFTER = datetime(2026, 11, 2, tzinfo=JST)


def catalog(services: int, *, hours: str = "", confirm: int = 2) -> Catalog:
    extra = f"\n        hours: {hours}" if hours else ""
    body = "".join(
        f"""
      - id: s{index}
        name: {{ja: s{index}, en: s{index}}}
        target: 0.999{extra}
        checks:
          - id: http
            type: http
            url: http://127.0.0.1:9/s{index}
            interval: 5m
            timeout: 10s
            confirm: {confirm}"""
        for index in range(services)
    )
    text = f"""\
systems:
  - id: bench
    name: {{ja: bench, en: bench}}
    target: 0.999
    services:{body}
"""
    return parse_catalog(text, "bench")


def database(folder: str, name: str, versions: list[tuple[datetime, Catalog]]) -> str:
    url = f"sqlite:///{folder}/{name}.db"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    for at, version in versions:
        record_catalog(sessions, version, "bench", at=at)
    last = versions[-1][1]
    params = {
        key: TimelineParams(check.confirm, check.stale_after_ms)
        for key, check in last.checks().items()
    }
    start = datetime(2026, 9, 28, tzinfo=JST)
    steps = int((NOW - start) / timedelta(minutes=5))
    for key in params:
        # Two failures in a row every day at 03:00: an outage under confirm 2, a blip under 3.
        batch = [
            ObservationIn(
                key,
                "tokyo",
                start + timedelta(minutes=5 * step),
                not (36 <= step % 288 < 38),
            )
            for step in range(steps)
        ]
        with transaction(sessions) as session:
            store_observations(session, batch, params)
    return url


def cpu_seconds(url: str, judged_by: Catalog, repeats: int, *, warm: bool) -> list[float]:
    """CPU seconds of each evaluation; cold ones first drop the relabelled timelines that
    a process keeps between evaluations (as /metrics refreshes find them)."""
    sessions = session_factory(make_engine(url))
    timings = []
    if warm:
        with sessions() as session:
            evaluate_period(session, judged_by, OCTOBER, now=NOW)
    for _ in range(repeats):
        if not warm:
            evaluation._RELABELLED.clear()
        with sessions() as session:
            began = time.process_time()
            result = evaluate_period(session, judged_by, OCTOBER, now=NOW)
            report_document(judged_by, result)
            timings.append(time.process_time() - began)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    base = catalog(options.services)
    office = catalog(options.services, hours='{daily: "09:00-18:00"}')
    stricter = catalog(options.services, confirm=3)
    september = datetime(2026, 9, 1, tzinfo=JST)
    cases = {
        "one version": ([(september, base)], base),
        "hours changed on the 16th": ([(september, base), (CHANGE, office)], office),
        "confirm changed on the 16th": ([(september, base), (CHANGE, stricter)], stricter),
        # A closed October judged by its own version after a later change relabelled the
        # stored timelines: the whole month labelled again from its observations.
        "confirm changed after the month": ([(september, base), (AFTER, stricter)], base),
    }
    print(f"{options.services} services, 5-minute checks, October 2026 (CPU seconds)")
    with tempfile.TemporaryDirectory(prefix="kadou-bench-") as folder:
        for index, (name, (versions, judged_by)) in enumerate(cases.items()):
            url = database(folder, f"case{index}", versions)
            for warm in (False, True):
                timings = cpu_seconds(url, judged_by, options.repeats, warm=warm)
                label = f"{name}, {'again' if warm else 'first'}"
                print(
                    f"  {label:<40} min {min(timings):.3f}  median "
                    f"{statistics.median(timings):.3f}  max {max(timings):.3f}"
                    f"  ({options.repeats} runs)"
                )


if __name__ == "__main__":
    main()
