"""kadou serve's embedded runner spools to disk: a restart in a database outage loses nothing.

A real outage on PostgreSQL (the database stops accepting connections and its sessions are
ended), a stop of the service during it (the lifespan shutdown SIGTERM triggers), then a
start after the database is back: every observation probed during the outage is stored,
in the order it was probed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from test_runner_servers import TinyHttpServer, probe_target

from app.catalog import parse_catalog
from app.main import create_app
from app.runtime import Runtime, open_runtime, upgrade
from app.settings import Settings
from probes.sink import writer_statuses
from probes.spool import decode_batch
from tests.support.catalogs import one_service_catalog

CHECK = "jpki/main/http"


class Outage:
    """The database refuses new connections and its open sessions are ended."""

    def __init__(self, admin_url: str, database_url: str) -> None:
        self.name = database_url.rsplit("/", 1)[1]
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": self.name},
            )

    def end(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))


@pytest.fixture
def outage(postgres_server: str, postgres_url: str) -> Iterator[Outage]:
    fault = Outage(postgres_server, postgres_url)
    try:
        yield fault
    finally:
        fault.end()  # so the fixture can drop the database
        fault.admin.dispose()


def stored(runtime: Runtime) -> list[tuple[datetime, int]]:
    """Observations of the check with the transaction that stored each, in that order."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT observed_at, xmin::text::bigint FROM observations "
                'WHERE "check" = :check ORDER BY 2, 1'
            ),
            {"check": CHECK},
        )
        return [(at, xid) for at, xid in rows]


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def spooled_instants(spool_dir: Path) -> list[datetime]:
    batches = [decode_batch(path.read_text()) for path in sorted(spool_dir.glob("*.jsonl"))]
    # Observations only: the runner's end-of-observation marks are not observation rows.
    return [
        record.observed_at
        for batch in batches
        for record in batch.observations
        if not record.end_of_observation
    ]


@pytest.mark.postgres
async def test_a_restart_in_a_database_outage_loses_nothing(
    postgres_url: str, outage: Outage, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    target = TinyHttpServer(probe_target)
    await target.start()
    spool_dir = tmp_path / "data" / "spool"
    catalog = parse_catalog(
        one_service_catalog(f"{target.base_url}/ok", interval="200ms", timeout="150ms"), "embedded"
    )
    settings = Settings(database_url=postgres_url, location="tokyo", spool_dir=spool_dir)

    def service() -> object:
        runtime = open_runtime(settings, catalog=catalog)
        return create_app(runtime, with_probes=True, metrics_refresh_seconds=None), runtime

    try:
        app, runtime = service()
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            await wait_for(lambda: len(stored(runtime)) >= 3)
            outage.begin()
            # The outage is seen: observations wait in the writer's spool.
            await wait_for(lambda: sum(s.spooled for s in writer_statuses()) >= 5)
        # Stopped (SIGTERM) in the outage: what was probed is on disk, not in memory.
        runtime.engine.dispose()
        during_outage = spooled_instants(spool_dir)
        assert len(during_outage) >= 5

        outage.end()
        app, runtime = service()
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            await wait_for(lambda: not list(spool_dir.glob("*.jsonl")))
            rows = stored(runtime)
            instants = {at for at, _ in rows}
            assert set(during_outage) <= instants
            # Drained in arrival order: each outage observation stored no later than the next.
            order = [at for at, _ in rows if at in set(during_outage)]
            assert order == sorted(during_outage)
        runtime.engine.dispose()
    finally:
        await target.stop()


async def test_a_check_failing_before_a_restart_is_probed_at_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    """retry_interval survives a restart: the embedded runner reads the last results."""
    from app.store.db import transaction
    from app.store.ingest import ObservationIn, store_observations

    upgrade(sqlite_url)
    target = TinyHttpServer(probe_target)
    await target.start()
    # An hourly grid: within the test, only a retry can probe the check.
    hourly = one_service_catalog(f"{target.base_url}/ok", interval="1h", timeout="150ms")
    hourly = hourly.replace("timeout: 150ms", "timeout: 150ms\n            retry_interval: 200ms")
    catalog = parse_catalog(hourly, "embedded")
    settings = Settings(database_url=sqlite_url, location="tokyo", spool_dir=tmp_path / "spool")
    runtime = open_runtime(settings, catalog=catalog)
    failed_at = datetime.now(UTC) - timedelta(seconds=30)
    with transaction(runtime.sessions) as session:
        store_observations(
            session,
            [ObservationIn(CHECK, "tokyo", failed_at, False, None, "status 503")],
            runtime.timeline_params,
        )

    def probed_since_restart() -> bool:
        with runtime.engine.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM observations WHERE ok"),
            ).scalar_one()
        return bool(count)

    try:
        app = create_app(runtime, with_probes=True, metrics_refresh_seconds=None)
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            await wait_for(probed_since_restart)
    finally:
        await target.stop()
        runtime.engine.dispose()
