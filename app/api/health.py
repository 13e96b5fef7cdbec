"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database and schema).

Neither runs on the request thread pool's database connections: ``/healthz`` never touches
the database, so a liveness probe never restarts a healthy process because its database is
slow; ``/readyz`` asks the database monitor for a fresh check and answers 503 when none
completes within 1.5 s.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.context import ApiContext, api_context
from app.api.problems import problem, responses
from app.runtime import head_revision
from app.store.monitor import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers (never asks the database)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers (within 1.5 s) and its schema is current",
    responses=responses(503),
    response_model=None,
)
async def readyz(context: ApiContext = Depends(api_context)) -> Response | dict[str, object]:
    readiness = await run_in_threadpool(context.database.readiness)
    if not readiness.ready:
        return problem(
            503,
            readiness.reason,
            title="Not ready",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return {
        "status": "ready",
        "schema": head_revision(context.runtime.settings.database_url) or "",
        "writers": _writers(),
    }


def _writers() -> list[dict[str, object]]:
    """The probe runner's writer in this process: whether storing keeps up with probing.

    Storing that falls behind does not make the service unready (it still answers, and its
    results wait in the spool); it shows here, in ``kadou_writer_backlog`` and in the
    generated ``KadouWriterBehind`` alert.
    """
    try:
        from probes.sink import writer_statuses
    except ImportError:  # installed without the probes package
        return []
    return [
        {
            "name": status.name,
            "state": "behind" if status.behind else "keeping up",
            "backlog": status.backlog,
            "dropped": status.dropped,
            "dead_letter": status.dead_letter,
        }
        for status in writer_statuses()
    ]
