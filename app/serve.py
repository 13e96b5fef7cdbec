"""``kadou serve``: the HTTP service under uvicorn, with the embedded probe runner.

Refuses to start on a database whose schema is not current (exit status 2, one line that
names ``kadou db upgrade``): serving old tables would fail on the first write, or worse,
half-way through one. A database that cannot be reached is another matter: an orchestrator
restarting Kadou during a database outage must not take it (and its probes) down for the
rest of the outage, so it starts, answers ``/healthz``, and stays not ready (``/readyz``
503) until the database answers; the database monitor keeps checking it. Uvicorn handles SIGTERM and SIGINT: it stops accepting connections,
lets requests in flight finish, then the lifespan stops the probe runner, which flushes
its last observations into the store.

On SQLite, one server per database file: a second ``kadou serve`` on the same file is
refused (exit status 2, one line) while the first runs (``app.store.single_server``).
Replicas share a PostgreSQL database instead.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from app.catalog import CatalogError
from app.errors import KadouError
from app.runtime import Runtime, open_runtime
from app.store.single_server import DatabaseInUse, lock_single_server

# Seconds uvicorn waits for requests in flight after SIGTERM before closing them.
GRACEFUL_SHUTDOWN_SECONDS = 20


def _refuse(message: str) -> None:
    print(f"kadou: {message}", file=sys.stderr)
    raise SystemExit(2)


log = logging.getLogger("kadou")


def ready_runtime() -> Runtime:
    """The runtime, or exit 2 with one line when the catalog or the schema is wrong.

    An unreachable database is logged (one line) and the runtime returned all the same.
    """
    try:
        runtime = open_runtime()
    except (CatalogError, KadouError, ValueError) as error:
        _refuse(str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise  # unreachable: _refuse exits
    try:
        current, found, head = runtime.schema_is_current()
    except Exception as error:  # unreachable: serve, not ready, until it answers
        from app.store.monitor import describe

        log.warning(
            "cannot reach the database (%s); serving, not ready until it answers "
            "(check KADOU_DATABASE_URL)",
            describe(error),
        )
        return runtime
    if not current:
        _refuse(
            f"the database schema is at {found or 'nothing'}, Kadou needs {head}; "
            "run `kadou db upgrade` first"
        )
    return runtime


def serve(host: str, port: int, *, with_probes: bool) -> None:
    """Run Kadou's HTTP service until SIGTERM/SIGINT."""
    from app.main import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic tells at INFO which dialect it found, each time the schema is checked.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    runtime = ready_runtime()
    try:
        server_lock = lock_single_server(runtime.settings.database_url)
    except DatabaseInUse as error:
        _refuse(str(error))
        raise  # unreachable: _refuse exits
    app = create_app(
        runtime,
        with_probes=with_probes,
        scheduled_exports=runtime.settings.report_export,
        metrics_refresh_seconds=runtime.settings.metrics_refresh_seconds,
        change_poll_seconds=runtime.settings.change_poll_seconds,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if server_lock is not None:
            server_lock.release()
