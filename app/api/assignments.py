"""``GET /assignments``: which of a location's checks a runner probes (``app.assignments``).

Runners at one location share its checks: each asks once per heartbeat and probes only the
checks it is given. The server answers from the runners' heartbeats, so an agent needs no
database access, and every replica gives the same answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app.api.auth import prober
from app.api.context import ApiContext, api_context
from app.assignments import location_assignment
from app.observations import LOCATION_PATTERN
from app.store.tokens import Actor

router = APIRouter(tags=["results"])


class Assignment(BaseModel):
    location: str
    runner: str
    checks: list[str] = Field(description="Check keys this runner probes, sorted")
    live_runners: list[str] = Field(
        description="The location's runners with a fresh heartbeat (and the one asking)"
    )
    ask_again_seconds: float = Field(description="Ask again after this long (one heartbeat)")


@router.get(
    "/assignments",
    summary="The checks a runner of a location probes (shared among the location's runners)",
)
def get_assignment(
    location: str = Query(pattern=LOCATION_PATTERN.pattern, max_length=64),
    runner: str = Query(min_length=1, max_length=200, description="The runner's id"),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(prober),
) -> Assignment:
    assignment = location_assignment(context.runtime, location, context.now(), asking=runner)
    return Assignment(
        location=location,
        runner=runner,
        checks=assignment.checks.get(runner, []),
        live_runners=assignment.live_runners,
        ask_again_seconds=assignment.interval_seconds,
    )
