"""``kadou demo``: a living dashboard on a fresh SQLite database, within a minute.

It creates the database, backfills sixty days of history through the normal import path,
starts the simulator with a scenario that injects a fault every few minutes, and serves
the API and pages with the embedded probe runner probing the simulator. Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from app.runtime import open_runtime, upgrade
from app.settings import Settings
from app.store.db import transaction
from app.store.tokens import create_token

log = logging.getLogger("kadou.demo")
# The built-in catalog's checks point at the simulator on this port.
SIMULATOR_PORT = 8081


def scenario_path() -> Path:
    from probes import simulator

    return Path(next(iter(simulator.__path__))) / "scenarios" / "demo.yaml"


def prepare(directory: Path, *, days: int, now: datetime) -> tuple[Settings, dict[str, str]]:
    """A fresh database with history and one token per role; returns the tokens."""
    from app.demo.history import backfill
    from app.history import record_catalog

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("kadou.db*"):
        old.unlink()
    for old_folder in ("reports", "spool"):  # they belong to the database just removed
        shutil.rmtree(directory / old_folder, ignore_errors=True)
    # The scheduled export runs in the demo as in production: on start it closes the
    # previous month (the history's last whole month) and writes its reports here.
    settings = Settings(
        database_url=f"sqlite:///{directory.resolve()}/kadou.db",
        report_dir=directory.resolve() / "reports",
        spool_dir=directory.resolve() / "spool",
    )
    upgrade(settings.database_url)
    runtime = open_runtime(settings)
    # The history below was probed with this catalog, so it is in force from its start.
    record_catalog(runtime.sessions, runtime.catalog, "demo", at=now - timedelta(days=days))
    began = time.perf_counter()
    stored = backfill(
        runtime.sessions, runtime.catalog, now=now, days=days, location=settings.location
    )
    print(
        f"backfilled {stored:,} observations ({days} days) in {time.perf_counter() - began:.1f} s"
    )
    tokens = {}
    with transaction(runtime.sessions) as session:
        for role in ("admin", "operator", "viewer"):
            _, tokens[role] = create_token(session, name=f"demo-{role}", role=role, actor="demo")
    runtime.engine.dispose()
    return settings, tokens


async def serve_demo(settings: Settings, host: str, port: int) -> None:
    from app.main import create_app
    from probes.simulator import serve_simulator

    simulator = asyncio.create_task(
        serve_simulator("127.0.0.1", SIMULATOR_PORT, str(scenario_path()))
    )
    app = create_app(
        open_runtime(settings),
        with_probes=True,
        scheduled_exports=True,
        metrics_refresh_seconds=10.0,
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        await server.serve()
    finally:
        simulator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await simulator


def run_demo(directory: Path, *, host: str, port: int, days: int) -> None:
    settings, tokens = prepare(directory, days=days, now=datetime.now(UTC))
    url = f"http://{host}:{port}/"
    print()
    print(f"  Kadou demo: {url}   (Ctrl-C stops everything)")
    print(f"  sign in with the admin token:    {tokens['admin']}")
    print(f"  or the operator token:           {tokens['operator']}")
    print(f"  or the viewer token:             {tokens['viewer']}")
    print(f"  simulator faults:                http://127.0.0.1:{SIMULATOR_PORT}/_control/faults")
    print(f"  API: {url}docs   metrics: {url}metrics   public status: {url}status")
    print(f"  last month's closed reports:     {settings.report_dir}")
    print()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_demo(settings, host, port))
    print("demo stopped")
