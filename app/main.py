"""The Kadou HTTP service: ``create_app()`` builds it; ``app.serve`` runs it under uvicorn.

Routes are thin (``app/api/``): they parse input, call ``store`` and ``evaluation``, and
render JSON. Errors are RFC 9457 problem bodies (``app/api/problems.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api import (
    assignments,
    audit,
    availability,
    exclusions,
    health,
    months,
    problems,
    reports,
    results,
    systems,
)
from app.api.auth import reader
from app.api.context import ApiContext
from app.api.gate import RequestGate, on_database_error
from app.api.params import reject_unknown_query
from app.current import CurrentStateCache
from app.metrics import (
    CONTENT_TYPE,
    MetricsExporter,
    record_probe,
    record_retry,
    record_warnings,
)
from app.runtime import Runtime, open_runtime
from app.store.tokens import VERIFIED_TOKENS, Actor
from app.web.headers import SecurityHeaders
from app.web.routes import include_web

log = logging.getLogger("kadou")

API_PREFIX = "/api/v1"
# /metrics reads a snapshot refreshed this often in the background.
METRICS_REFRESH_SECONDS = 15.0
EXPORT_CHECK_SECONDS = 60.0
# Pruning raw observations is a daily chore; the first run waits for the export loop's first
# round, which closes last month, so a month is pruned only after it is closed.
PRUNE_INTERVAL_SECONDS = 86_400.0
PRUNE_FIRST_DELAY_SECONDS = 2 * EXPORT_CHECK_SECONDS
# The partitions ahead are retried this soon when the database could not be reached.
PARTITION_RETRY_SECONDS = 60.0
# The embedded runner's heartbeat; with KADOU_SHARE_CHECKS also how often it re-reads its share.
EMBEDDED_HEARTBEAT_MS = 10_000
# How often the refresher asks the database whether another process changed anything.
CHANGE_POLL_SECONDS = 2.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def _embedded_probes(context: ApiContext) -> AsyncIterator[None]:
    """Run the catalog's checks from this process into the store, if the runner exists."""
    try:
        from probes.runner import ProbeRunner
    except ImportError as error:
        log.warning("serving without the embedded probe runner: probes.runner: %s", error)
        yield
        return
    from app.store.sink import StoreSink
    from probes.sink import BatchingWriter

    runtime = context.runtime
    location = runtime.settings.location

    def on_result(check: Any, result: Any) -> None:
        record_probe(check.key, location, result.ok, result.latency_ms / 1000)
        record_warnings(check.key, location, result.warnings, result.measurements)

    sharing = None
    if runtime.settings.share_checks:
        import socket

        from app.assignments import LocalAssignment

        sharing = LocalAssignment(
            runtime,
            location,
            runtime.settings.runner_id or f"{socket.gethostname()}/{location}",
            context.clock,
            every_seconds=EMBEDDED_HEARTBEAT_MS / 1000,
        )
        await asyncio.to_thread(sharing.refresh)
    runner = ProbeRunner(
        list(runtime.catalog.checks().values()),
        # Spooled to disk like an agent's: a restart during a database outage loses nothing.
        BatchingWriter(
            StoreSink(runtime.sessions, runtime.timeline_params, late=runtime.late_audit),
            runtime.settings.spool_dir,
            name="embedded",
        ),
        location,
        on_result=on_result,
        on_retry=lambda check: record_retry(check.key, location),
        # Checks failing before the restart are retried at once (retry_interval).
        initial_failing=await asyncio.to_thread(runtime.failing_checks, context.clock()),
        heartbeat_interval_ms=EMBEDDED_HEARTBEAT_MS,
        owns=sharing.owns if sharing is not None else None,
        runner_id=runtime.settings.runner_id,
    )
    following = asyncio.create_task(sharing.follow()) if sharing is not None else None
    await runner.start()
    try:
        yield
    finally:
        await runner.stop()
        if following is not None:
            following.cancel()


async def _repeat(
    job: Callable[[], object], *, every: float, first_delay: float, failure: str
) -> None:
    """Run ``job`` in a worker thread every ``every`` seconds, forever.

    A failure is logged (``failure``) and the job runs again at its next turn: a
    scheduled job never takes the server down.
    """
    await asyncio.sleep(first_delay)
    while True:
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception(failure)
        await asyncio.sleep(every)


async def _export_loop(runtime: Runtime, clock: Callable[[], datetime]) -> None:
    """Write last month's reports once it has closed (checked every minute).

    Every replica runs this loop; a PostgreSQL advisory lock lets one of them do the work.
    """
    from app.reports.export import ExportPlan, export_due_reports_once

    settings = runtime.settings
    plan = ExportPlan.from_settings(
        settings.report_dir,
        settings.report_formats,
        settings.report_languages,
        settings.report_export_day,
        settings.report_export_time,
    )
    await _repeat(
        lambda: export_due_reports_once(
            runtime.sessions, runtime.catalog, runtime.timezone, plan, now=clock()
        ),
        every=EXPORT_CHECK_SECONDS,
        first_delay=0.0,
        failure="scheduled report export failed; retrying in a minute",
    )


async def _prune_loop(runtime: Runtime, clock: Callable[[], datetime], retention_ms: int) -> None:
    """Delete raw observations past the retention once a day (``kadou db prune``).

    Every replica runs this loop; a PostgreSQL advisory lock lets one of them do the work.
    """
    from app.retention import prune_once

    await _repeat(
        lambda: prune_once(
            runtime.sessions,
            runtime.catalog,
            runtime.timezone,
            runtime.settings.report_dir,
            retention_ms,
            now=clock(),
        ),
        every=PRUNE_INTERVAL_SECONDS,
        first_delay=PRUNE_FIRST_DELAY_SECONDS,
        failure="scheduled prune of old observations failed; retrying in a day",
    )


async def _partition_loop(runtime: Runtime, clock: Callable[[], datetime]) -> None:
    """Create the monthly partitions ahead of time (PostgreSQL), at start and daily.

    Every replica runs this loop; the advisory lock of partition maintenance makes them
    take turns, and the second finds the partitions there. A database out of reach is
    one line in the log and a retry within minutes: until the partitions exist, rows of
    a new month wait in the default partition.
    """
    from app.store.monitor import describe, is_unavailable
    from app.store.partitions import maintain

    while True:
        delay = PRUNE_INTERVAL_SECONDS
        try:
            await asyncio.to_thread(maintain, runtime.sessions, runtime.timezone, clock())
        except Exception as error:
            if not is_unavailable(error):
                log.exception("creating the observation partitions ahead failed; retrying in a day")
            else:
                delay = PARTITION_RETRY_SECONDS
                log.warning(
                    "cannot create the observation partitions ahead (%s); retrying in %.0f s",
                    describe(error),
                    delay,
                )
        await asyncio.sleep(delay)


def create_app(
    runtime: Runtime | None = None,
    *,
    now: Callable[[], datetime] | None = None,
    with_probes: bool = False,
    scheduled_exports: bool = False,
    scheduled_prune: bool = False,
    current_max_age_seconds: float = 5.0,
    metrics_refresh_seconds: float | None = METRICS_REFRESH_SECONDS,
    change_poll_seconds: float = CHANGE_POLL_SECONDS,
) -> FastAPI:
    """The FastAPI application.

    ``now`` replaces the clock (tests); ``with_probes`` runs the embedded probe runner in
    the lifespan; ``scheduled_prune`` prunes old observations daily unless the retention
    is forever, and keeps the monthly partitions ahead on PostgreSQL; ``current_max_age_seconds`` bounds how stale the current state of
    ``/api/v1/systems`` may be; ``metrics_refresh_seconds`` (None: off) refreshes the
    snapshot ``/metrics`` reads in a background thread, which also polls the database every
    ``change_poll_seconds`` for writes made by other replicas (``app.current``).
    """
    runtime = runtime or open_runtime()
    clock = now or utc_now
    cache = CurrentStateCache(runtime, clock, max_age_seconds=current_max_age_seconds)
    context = ApiContext(runtime=runtime, clock=clock, current=cache)
    exporter = MetricsExporter(cache)
    # A token revoked through another replica stops working here within one change poll.
    cache.add_change_listener(VERIFIED_TOKENS.forget_all)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.database.start()
        if metrics_refresh_seconds is not None:
            cache.start_refresher(metrics_refresh_seconds, change_poll_seconds)
        exporter_task = (
            asyncio.create_task(_export_loop(runtime, clock)) if scheduled_exports else None
        )
        retention_ms = runtime.settings.observation_retention_ms
        pruner_task = (
            asyncio.create_task(_prune_loop(runtime, clock, retention_ms))
            if scheduled_prune and retention_ms is not None
            else None
        )
        partition_task = (
            asyncio.create_task(_partition_loop(runtime, clock)) if scheduled_prune else None
        )
        try:
            if with_probes:
                async with _embedded_probes(context):
                    yield
            else:
                yield
        finally:
            for task in (exporter_task, pruner_task, partition_task):
                if task is not None:
                    task.cancel()
            await asyncio.to_thread(cache.stop_refresher)
            context.database.stop()

    app = FastAPI(
        title="Kadou",
        summary="Availability and SLA monitor (稼働): exact monthly availability, "
        "exclusions, recovery SLA",
        version="1",
        lifespan=lifespan,
        responses=problems.COMMON_RESPONSES,
    )
    app.state.kadou = context
    # Inside the catch-all that problems.install adds: sizes, tokens and the database's
    # availability are settled before any body is read.
    app.add_middleware(RequestGate)
    problems.install(app)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(SQLAlchemyError, on_database_error)
    for router in (
        systems.router,
        availability.router,
        exclusions.router,
        results.router,
        assignments.router,
        audit.router,
        reports.router,
        months.router,
    ):
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(reject_unknown_query)])
    app.include_router(health.router)
    include_web(app, runtime, session_secret=runtime.settings.session_secret)

    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics (text exposition format)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
    )
    async def metrics(_actor: Actor = Depends(reader)) -> Response:
        # A scrape of a snapshot already rendered answers on the event loop; only a new
        # snapshot's rendering (or computation) goes to the thread pool.
        body = exporter.render_cached()
        if body is None:
            body = await run_in_threadpool(exporter.render)
        return Response(body, media_type=CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (problems.Problem, problems.FieldError):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                model_schema.pop("$defs", None)  # FieldError is listed on its own
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
