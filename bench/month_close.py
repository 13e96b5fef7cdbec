"""Closing a month and the size of its evidence bundle.

1. The built-in catalog (7 services, one check each, every 30 s) with the sample month
   (October 2026, JST: outages, gaps, blips) stored on SQLite through the real storage
   path. Then: closing the month (goal < 1 s), closing it again with nothing changed,
   amending it after a retroactive window, writing its evidence bundle (observations and
   segments; goal < 10 MB with observations) and verifying the bundle.
2. 200 services at 30 s: the bundle's observations file for the month, written in the
   bundle's own format and compressed as the bundle compresses it (the rest of a bundle
   is a few hundred kB of reports), without storing 18 million rows first.

    python bench/month_close.py            # the whole month
    python bench/month_close.py --days 7   # shorter, same shape

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.catalog import load_catalog
from app.demo.sample import default_scenario, generate, month_bounds
from app.evidence import OBSERVATION_FIELDS, build_bundle, verify_bundle
from app.history import record_catalog
from app.months import close_month
from app.runtime import upgrade
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import Actor, Role

ZONE = "Asia/Tokyo"


def timed(label: str, action):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    cpu = time.process_time()
    result = action()
    print(
        f"  {label:<44} {time.perf_counter() - began:7.3f} s wall, "
        f"{time.process_time() - cpu:7.3f} s CPU"
    )
    return result


def default_catalog_month(days: int) -> None:
    catalog = load_catalog()
    checks = catalog.checks()
    params = {k: TimelineParams(c.confirm, c.stale_after_ms) for k, c in checks.items()}
    start, _ = month_bounds(2026, 10, ZONE)
    scenario = default_scenario(2026, 10, ZONE)
    october = periods.month(2026, 10, ZONE)
    closing = october.end() + timedelta(minutes=10)
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        record_catalog(sessions, catalog, "bench", at=start - timedelta(days=30))
        stored = 0
        began = time.perf_counter()
        for day in range(days):
            day_start = start + timedelta(days=day)
            batch = [
                ObservationIn(
                    str(r["check"]),
                    str(r["location"]),
                    datetime.fromisoformat(str(r["observed_at"])),
                    bool(r["ok"]),
                    r["latency_ms"],  # type: ignore[arg-type]
                    r["detail"],  # type: ignore[arg-type]
                )
                for r in generate(
                    catalog, day_start, day_start + timedelta(days=1), scenario, seed=day
                )
            ]
            with transaction(sessions) as session:
                store_observations(session, batch, params)
            stored += len(batch)
        print(
            f"built-in catalog, {len(checks)} checks every 30 s, {days} day(s): "
            f"{stored:,} observations stored in {time.perf_counter() - began:.1f} s"
        )
        timed("close the month (version 1)", lambda: close_month(
            sessions, catalog, october, actor="bench", now=closing
        ))  # fmt: skip
        timed("close again, nothing changed", lambda: close_month(
            sessions, catalog, october, actor="bench", now=closing
        ))  # fmt: skip
        with transaction(sessions) as session:
            add_exclusion(
                session,
                catalog,
                ExclusionRequest(
                    "jpki", "disaster", start + timedelta(days=1), start + timedelta(days=1, hours=2),
                    "bench",
                ),
                Actor("bench", Role.ADMIN),
                now=closing,
            )  # fmt: skip
        amended = timed("amend after a retroactive window (v2)", lambda: close_month(
            sessions, catalog, october, actor="bench", now=closing
        ))  # fmt: skip
        print(f"  version {amended.version}, {len(amended.diff)} figures moved")
        for segments in (False, True):
            kind = "segments" if segments else "observations"
            with sessions() as session:
                body = timed(f"evidence bundle with {kind}", lambda s=session, g=segments: build_bundle(
                    s, catalog, "2026-10", ZONE, segments=g, now=closing
                ))  # fmt: skip
            path = Path(workdir) / f"evidence-{kind}.zip"
            path.write_bytes(body)
            print(f"  bundle with {kind}: {len(body) / 1e6:.2f} MB")
            verification = timed(f"verify the bundle with {kind}", lambda p=path: verify_bundle(p))
            print(f"  {verification.lines()[0]}")
        engine.dispose()


def many_services(services: int, days: int) -> None:
    """The observations file of a bundle for ``services`` checks at 30 s, compressed."""
    start = periods.month(2026, 10, ZONE).start().astimezone(UTC)
    instants = [
        (start + timedelta(seconds=30 * i))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
        for i in range(days * 2880)
    ]
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = 0
    raw = 0
    rng = random.Random(2026)
    began = time.perf_counter()
    header = ",".join(OBSERVATION_FIELDS) + "\n"
    compressed += len(compressor.compress(header.encode()))
    for index in range(services):
        check = f"system-{index:03d}/main/http"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for stamp in instants:
            ok = rng.random() > 0.0005
            writer.writerow(
                (check, "tokyo", stamp, int(ok), repr(round(rng.uniform(8, 40), 1)) if ok else "",
                 "" if ok else "status 503")
            )  # fmt: skip
        chunk = buffer.getvalue().encode()
        raw += len(chunk)
        compressed += len(compressor.compress(chunk))
    compressed += len(compressor.flush())
    print(
        f"{services} services every 30 s, {days} day(s): {services * len(instants):,} "
        f"observations, {raw / 1e6:.0f} MB of CSV, {compressed / 1e6:.1f} MB in the bundle "
        f"({time.perf_counter() - began:.0f} s to measure)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--services", type=int, default=200)
    args = parser.parse_args()
    default_catalog_month(args.days)
    many_services(args.services, args.days)


if __name__ == "__main__":
    main()
