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
def readyz(context: ApiContext = Depends(api_context)) -> Response | dict[str, str]:
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
    return {"status": "ready", "schema": head or ""}
