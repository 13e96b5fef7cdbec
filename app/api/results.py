"""``POST /results``: a batch of observations (and a heartbeat) from a probe agent.

The answer comes only after the commit, so a 2xx means stored. Storing is idempotent on
(check, location, observed_at): an agent that lost the answer re-sends the batch and
nothing is counted twice. One bad item rejects the whole batch, naming its index and field,
because a half-stored batch would leave the agent unable to tell what to re-send.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.auth import prober
from app.api.context import ApiContext, api_context
from app.api.problems import ApiProblem, responses
from app.errors import InvalidInput
from app.metrics import record_probe
from app.observations import LOCATION_PATTERN, conflicting_duplicate, parse_observation
from app.store.db import transaction
from app.store.ingest import HeartbeatIn, ObservationIn, record_heartbeat
from app.store.late import store_audited
from app.store.tokens import Actor

router = APIRouter(tags=["results"])

# A minute of 10-second probes from a catalog of ~800 checks; bigger batches hold the
# timeline locks (and SQLite's single writer) long enough to stall other writers.
MAX_BATCH = 5_000


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runner: str = Field(min_length=1, max_length=200, description="The runner's id")
    location: str = Field(pattern=LOCATION_PATTERN.pattern, max_length=64)
    at: str = Field(description="ISO 8601 with offset")
    interval_seconds: float = Field(gt=0, le=86_400, description="How often the runner beats")


class ResultsBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observations: list[dict[str, Any]] = Field(
        # Stated, not enforced by validation: a longer batch is a 413 (split it), not a 422.
        json_schema_extra={"maxItems": MAX_BATCH},
        description=f"At most {MAX_BATCH} observations, each with the fields of a `kadou import`"
        " line: check (system/service/check), location, observed_at (ISO 8601 with offset),"
        " ok (boolean), latency_ms (number or null), detail (string or null); or an"
        " end-of-observation mark of a runner that stopped cleanly: check, location,"
        " observed_at (the instant it stopped) and end_of_observation: true, without ok",
    )
    heartbeat: HeartbeatBody | None = None


class ResultsStored(BaseModel):
    received: int
    stored: int = Field(description="New observations stored")
    duplicates: int = Field(description="Already stored (a re-sent batch): ignored")
    heartbeat: bool = Field(description="Whether a heartbeat was recorded")


def _heartbeat(body: HeartbeatBody) -> HeartbeatIn:
    try:
        at = datetime.fromisoformat(body.at)
    except ValueError:
        raise InvalidInput(
            f"{body.at!r} is not an ISO 8601 time; write e.g. 2026-10-01T00:00:00Z",
            field="heartbeat.at",
        ) from None
    if at.tzinfo is None:
        raise InvalidInput("give the offset, e.g. 2026-10-01T00:00:00Z", field="heartbeat.at")
    return HeartbeatIn(
        runner_id=body.runner,
        location=body.location,
        at=at,
        interval_ms=round(body.interval_seconds * 1000),
    )


def parse_batch(
    items: list[dict[str, Any]], known_checks: Mapping[str, object], now: datetime
) -> list[ObservationIn]:
    parsed = []
    for index, item in enumerate(items):
        where = f"observations[{index}]"
        try:
            parsed.append(parse_observation(item, known_checks, where, now=now))
        except InvalidInput as error:
            field = f"{where}.{error.field}" if error.field else where
            message = error.message.removeprefix(f"{where}: ")
            raise InvalidInput(f"item {index}: {message}", field=field) from None
    conflict = conflicting_duplicate(parsed)
    if conflict is not None:
        first, second = conflict
        raise InvalidInput(
            f"items {first} and {second} are the same observation (check, location, "
            "observed_at) with different results; send one of them",
            field=f"observations[{second}].ok",
        )
    return parsed


def _read_batch(raw: bytes) -> ResultsBatch:
    try:
        return ResultsBatch.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors()]
        ) from None


# The body is read by the route rather than declared as a parameter: FastAPI would decode
# and validate it on the event loop, where a batch of several megabytes stalls every other
# request (and /healthz) for as long as it takes. Here it is decoded in a worker thread.
BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResultsBatch"}}},
    }
}


@router.post(
    "/results",
    summary="Store a batch of observations from a probe agent (prober or admin)",
    response_model=ResultsStored,
    responses=responses(400, 413),
    openapi_extra=BATCH_BODY,
)
async def post_results(
    request: Request,
    context: ApiContext = Depends(api_context),
    actor: Actor = Depends(prober),
) -> ResultsStored:
    raw = await request.body()
    return await run_in_threadpool(_store_batch, raw, context, actor)


def _store_batch(raw: bytes, context: ApiContext, actor: Actor) -> ResultsStored:
    batch = _read_batch(raw)
    if len(batch.observations) > MAX_BATCH:
        raise ApiProblem(
            413,
            f"{len(batch.observations)} observations in one batch; send at most {MAX_BATCH} "
            "per request (split the batch: storing is idempotent, order does not matter)",
            title="Batch too large",
        )
    runtime = context.runtime
    # The runtime's per-check map, built once: Catalog.checks() builds a new dict of every
    # check, 1 ms a post at 10,000 checks, for the membership test alone.
    observations = parse_batch(batch.observations, runtime.timeline_params, context.now())
    heartbeat = _heartbeat(batch.heartbeat) if batch.heartbeat is not None else None
    stored: list[ObservationIn] = []
    with transaction(runtime.sessions) as session:
        # Observations inside a closed month are audited under the token's name.
        result = store_audited(
            session,
            observations,
            runtime.timeline_params,
            runtime.late_audit,
            actor=actor.name,
            on_stored=stored.append,
            now=context.now(),
        )
        if heartbeat is not None:
            record_heartbeat(session, heartbeat)
    # An agent has no /metrics of its own: its probes are counted here, once each (a
    # re-sent batch stores nothing new), in time order so the last result wins.
    for item in sorted(stored, key=lambda observation: observation.observed_at):
        record_probe(item.check, item.location, item.ok, (item.latency_ms or 0.0) / 1000)
    # The current-state cache is not dropped here: agents post every second, and readers
    # accept state up to its max age (a few seconds) old.
    return ResultsStored(
        received=result.received,
        stored=result.stored,
        duplicates=result.duplicates,
        heartbeat=heartbeat is not None,
    )
