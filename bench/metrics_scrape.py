"""Time of a /metrics scrape, and of the snapshot behind it, with 7 and 1,000 services.

A scrape only renders the cached snapshot; the snapshot (one engine evaluation of the month
to date for every service and system) is recomputed in the background. Both are timed,
in-process (server time, no network), on SQLite with a month of data. Prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient
from web_overview import (
    NOW,
    generated_catalog,
    import_default_month,
    import_generated_month,
)

from app.catalog import load_catalog
from app.main import create_app
from app.runtime import Runtime, upgrade
from app.settings import Settings


def measure(name: str, runtime: Runtime, rounds: int) -> None:
    app = create_app(
        runtime, now=lambda: NOW, current_max_age_seconds=3600, metrics_refresh_seconds=None
    )
    snapshot = []
    for _ in range(3):
        began = time.perf_counter()
        app.state.kadou.current.refresh()
        snapshot.append(time.perf_counter() - began)
    scrapes = []
    with TestClient(app) as client:
        first = client.get("/metrics")
        assert first.status_code == 200, first.text
        for _ in range(rounds):
            began = time.perf_counter()
            answer = client.get("/metrics")
            scrapes.append(time.perf_counter() - began)
            assert answer.status_code == 200
        size = len(answer.content)
    print(
        f"{name:<14} snapshot (evaluation) median {statistics.median(snapshot) * 1000:7.1f} ms; "
        f"scrape median {statistics.median(scrapes) * 1000:6.1f} ms, "
        f"max {max(scrapes) * 1000:6.1f} ms ({size / 1024:.0f} KiB, n={rounds})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/default.db"
        upgrade(url)
        settings = Settings(database_url=url, public_read=True)
        runtime = Runtime(settings=settings, catalog=load_catalog())
        import_default_month(runtime)
        measure("7 services", runtime, args.rounds)
        url = f"sqlite:///{workdir}/big.db"
        upgrade(url)
        settings = Settings(database_url=url, public_read=True)
        runtime = Runtime(settings=settings, catalog=generated_catalog(args.services))
        import_generated_month(runtime)
        measure(f"{args.services} services", runtime, args.rounds)


if __name__ == "__main__":
    main()
