"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database and schema)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from starlette.responses import Response

from app.api.context import ApiContext, api_context
from app.api.problems import problem, responses

router = APIRouter(tags=["health"])
log = logging.getLogger("kadou.api")


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current",
    responses=responses(503),
    response_model=None,
)
def readyz(context: ApiContext = Depends(api_context)) -> Response | dict[str, object]:
    try:
        current, found, head = context.runtime.schema_is_current()
    except Exception as error:  # any failure to reach the database means "not ready"
        log.warning("readiness: database unreachable: %s", error)
        return problem(
            503,
            f"the database is unreachable ({error.__class__.__name__}); check KADOU_DATABASE_URL",
            title="Not ready",
        )
    if not current:
        return problem(
            503,
            f"the database schema is at {found or 'nothing'}, Kadou needs {head}; "
            "run `kadou db upgrade`",
            title="Not ready",
        )
    return {"status": "ready", "schema": head or "", "writers": _writers()}


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
