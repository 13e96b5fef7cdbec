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

import gc
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


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    The modules, the catalog and the application live as long as the process, yet every
    full collection walks them again. Each refresh of the current state allocates tens of
    thousands of objects that outlive a young collection, so full collections come often,
    and at 1,000 services each walked the start-up heap for more time than the evaluation
    itself took (bench/web_overview.py). Frozen, a full collection sees only what was
    built since.
    """
    gc.collect()
    gc.freeze()


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
    _record_catalog(runtime)
    return runtime


def _record_catalog(runtime: Runtime) -> None:
    """The served catalog joins the catalog history (SLA-SEMANTICS §8); a database that
    fails right now must not keep the server from starting, so a failure is logged."""
    import getpass

    from app.history import record_catalog

    try:
        record_catalog(runtime.sessions, runtime.catalog, f"serve:{getpass.getuser()}")
    except Exception as error:
        log.warning("cannot record the catalog in the catalog history: %s", error)


def serve(host: str, port: int, *, with_probes: bool, loop: str = "auto") -> None:
    """Run Kadou's HTTP service until SIGTERM/SIGINT.

    ``loop`` is uvicorn's: "auto" takes uvloop when it is installed (it comes with
    ``uvicorn[standard]``), "asyncio" the standard loop; bench/api_load.py compares them.
    """
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
        scheduled_prune=True,
        metrics_refresh_seconds=runtime.settings.metrics_refresh_seconds,
        change_poll_seconds=runtime.settings.change_poll_seconds,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        loop=loop,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    settle_heap()
    try:
        uvicorn.Server(config).run()
    finally:
        if server_lock is not None:
            server_lock.release()
