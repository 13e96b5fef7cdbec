"""Exclusion windows over HTTP; every rule of SLA-SEMANTICS §4 lives in ``store.exclusions``.

This layer only parses input (times without offset are in the reporting time zone), maps
a removed window to 409 (it exists, but can no longer change) and drops the cached current
state after a write, so the next read shows the window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import admin, operator, reader
from app.api.context import ApiContext, api_context
from app.api.params import aware, check_scope
from app.api.problems import ApiProblem, responses
from app.errors import InvalidInput
from app.evaluation import exclusion_json
from app.instants import parse_instant
from app.store.db import transaction
from app.store.exclusions import (
    ExclusionRequest,
    add_exclusion,
    find_exclusion,
    list_exclusions,
    remove_exclusion,
    update_exclusion,
)
from app.store.tokens import Actor

router = APIRouter(tags=["exclusions"])

Kind = Literal["planned", "disaster"]
# Bounded so an absurd id is a 422, not an integer the database driver cannot bind.
ExclusionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The window's id")]
TIME_HELP = "ISO 8601; without offset the reporting time zone applies"
# A reason is printed in reports and the audit log: a paragraph, not a document.
REASON_MAX = 2000


class ExclusionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(
        max_length=201, description="A system id, or system/service", examples=["info-network"]
    )
    kind: Kind = Field(description="planned (計画停止) or disaster (災害による停止)")
    start: datetime = Field(description=TIME_HELP)
    end: datetime = Field(description=TIME_HELP + "; exclusive")
    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX,
        description="Why the service stops; printed in reports",
    )
    retroactive: bool = Field(
        default=False, description="Admin only: register a planned window that already started"
    )


class ExclusionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change_reason: str = Field(
        min_length=1, max_length=REASON_MAX, description="Why the window changes (audit log)"
    )
    kind: Kind | None = None
    start: datetime | None = Field(default=None, description=TIME_HELP)
    end: datetime | None = Field(default=None, description=TIME_HELP)
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=REASON_MAX,
        description="A new reason text for the window",
    )


class ExclusionRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1, max_length=REASON_MAX, description="Why the window is removed (audit log)"
    )


def _existing(context: ApiContext, exclusion_id: int) -> None:
    """404 for an unknown id, 409 for a window that was removed (it cannot change now)."""
    with context.runtime.sessions() as session:
        row = find_exclusion(session, exclusion_id)
        if row is None:
            raise ApiProblem(404, f"no exclusion window with id {exclusion_id}", title="Not found")
        if row.removed_at is not None:
            removed_at = row.removed_at.astimezone(context.zone).isoformat()
            raise ApiProblem(
                409,
                f"exclusion window {exclusion_id} was removed at {removed_at} by "
                f"{row.removed_by}; register a new window instead",
                title="Conflict",
            )


@router.get("/exclusions", summary="Active exclusion windows", responses=responses(404))
def get_exclusions(
    start: str | None = Query(None, description="Only windows ending after this; " + TIME_HELP),
    end: str | None = Query(None, description="Only windows starting before this; " + TIME_HELP),
    system: str | None = Query(None, description="Only windows of this system"),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> list[dict[str, Any]]:
    zone = context.zone
    check_scope(context.runtime.catalog, system, None)
    start_at = parse_instant(start, "start", zone) if start else None
    end_at = parse_instant(end, "end", zone) if end else None
    with context.runtime.sessions() as session:
        rows = list_exclusions(session, start=start_at, end=end_at, system=system)
        return [exclusion_json(row, zone) for row in rows]


@router.get("/exclusions/{exclusion_id}", summary="One exclusion window", responses=responses(404))
def get_exclusion(
    exclusion_id: ExclusionId,
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> dict[str, Any]:
    with context.runtime.sessions() as session:
        row = find_exclusion(session, exclusion_id)
        if row is None:
            raise ApiProblem(404, f"no exclusion window with id {exclusion_id}", title="Not found")
        document = exclusion_json(row, context.zone)
        document["removed"] = row.removed_at is not None
        return document


@router.post(
    "/exclusions",
    status_code=201,
    summary="Register a planned or disaster window (operator; disaster and retroactive: admin)",
    responses=responses(400, 404, 409, 413),
)
def create_exclusion(
    body: ExclusionCreate,
    context: ApiContext = Depends(api_context),
    actor: Actor = Depends(operator),
) -> dict[str, Any]:
    zone = context.zone
    request = ExclusionRequest(
        scope=body.scope,
        kind=body.kind,
        starts_at=aware(body.start, zone),
        ends_at=aware(body.end, zone),
        reason=body.reason,
        retroactive=body.retroactive,
    )
    with transaction(context.runtime.sessions) as session:
        row = add_exclusion(session, context.runtime.catalog, request, actor, now=context.now())
        document = exclusion_json(row, zone)
    context.current.invalidate()
    return document


@router.patch(
    "/exclusions/{exclusion_id}",
    summary="Change a window; needs change_reason (past time: admin only)",
    responses=responses(400, 404, 409, 413),
)
def change_exclusion(
    exclusion_id: ExclusionId,
    body: ExclusionChange,
    context: ApiContext = Depends(api_context),
    actor: Actor = Depends(operator),
) -> dict[str, Any]:
    zone = context.zone
    _existing(context, exclusion_id)
    with transaction(context.runtime.sessions) as session:
        row = update_exclusion(
            session,
            context.runtime.catalog,
            exclusion_id,
            actor=actor,
            reason=body.change_reason,
            starts_at=None if body.start is None else aware(body.start, zone),
            ends_at=None if body.end is None else aware(body.end, zone),
            window_reason=body.reason,
            kind=body.kind,
            now=context.now(),
        )
        document = exclusion_json(row, zone)
    context.current.invalidate()
    return document


@router.delete(
    "/exclusions/{exclusion_id}",
    summary="Remove a window (admin); the reason goes in the query or a JSON body",
    responses=responses(400, 404, 409, 413),
)
def delete_exclusion(
    exclusion_id: ExclusionId,
    reason: str | None = Query(
        None, max_length=REASON_MAX, description="Why the window is removed (audit log)"
    ),
    body: ExclusionRemoval | None = Body(None),
    context: ApiContext = Depends(api_context),
    actor: Actor = Depends(admin),
) -> dict[str, Any]:
    # An empty ?reason= does not hide a reason given in the body.
    removal_reason = reason if reason and reason.strip() else (body.reason if body else None)
    if removal_reason is None or not removal_reason.strip():
        raise InvalidInput(
            'a removal needs a reason: ?reason=... or a JSON body {"reason": "..."}',
            field="reason",
        )
    _existing(context, exclusion_id)
    with transaction(context.runtime.sessions) as session:
        row = remove_exclusion(
            session, exclusion_id, actor=actor, reason=removal_reason, now=context.now()
        )
        document = exclusion_json(row, context.zone)
        document["removed"] = True
    context.current.invalidate()
    return document
