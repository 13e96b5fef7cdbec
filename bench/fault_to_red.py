"""From a fault to a red card: how long the overview page takes to show a service down.

Starts the simulator (the five systems on loopback), a Kadou server with the embedded
probe runner (1 s checks, the catalog's confirm count), and a headless Chromium on the
overview page refreshing every second, as the browser test does; then injects an error
fault into jpki and times how long until the card is red and down. The expected figure is
confirm × interval plus up to one refresh; each round is printed beside it.

    python bench/fault_to_red.py             # 3 rounds
    python bench/fault_to_red.py --rounds 5

Needs /usr/bin/chromium and the playwright package. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.catalog.loader import parse_catalog  # noqa: E402
from app.main import create_app  # noqa: E402
from app.runtime import open_runtime, upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.e2e.test_web_browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LAPTOP,
    LiveServer,
    SimulatorThread,
    simulator_catalog,
)

REFRESH_SECONDS = 1
WAIT_SECONDS = 60


def run(rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="kadou-bench-") as folder,
        SimulatorThread() as simulator,
        sync_playwright() as playwright,
    ):
        url = f"sqlite:///{folder}/live.db"
        upgrade(url)
        catalog = parse_catalog(simulator_catalog(simulator.urls), "bench-fault-to-red")
        check = catalog.checks()["jpki/main/http"]
        expected = check.confirm * check.interval_ms / 1000
        runtime = open_runtime(
            Settings(database_url=url, location="bench", public_read=True), catalog=catalog
        )
        app = create_app(
            runtime, with_probes=True, current_max_age_seconds=0.2, metrics_refresh_seconds=None
        )
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        card = 'li.card[data-system="jpki"]'
        took: list[float] = []
        with LiveServer(app) as server:
            page = browser.new_page(viewport=LAPTOP)
            page.goto(f"{server.url}/?refresh={REFRESH_SECONDS}")
            for _ in range(rounds):
                fault = simulator.control_url + "/jpki/main"
                httpx.put(fault, json={"fault": "ok"}, timeout=5).raise_for_status()
                page.locator(f'{card}[data-state="up"]').wait_for(timeout=WAIT_SECONDS * 1000)
                httpx.put(fault, json={"fault": "error"}, timeout=5).raise_for_status()
                injected = time.monotonic()
                page.locator(f'{card}[data-rag="red"][data-state="down"]').wait_for(
                    timeout=WAIT_SECONDS * 1000
                )
                took.append(time.monotonic() - injected)
                print(
                    f"fault to red: {took[-1]:.2f} s (expected {expected:g} s confirm × interval"
                    f" + up to {REFRESH_SECONDS} s refresh)",
                    flush=True,
                )
            page.close()
        browser.close()
        runtime.engine.dispose()
    print(f"rounds {len(took)}: median {statistics.median(took):.2f} s, max {max(took):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    run(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
