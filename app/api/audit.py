"""``GET /audit``: the append-only audit log, newest first."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from app.api.auth import reader
from app.api.context import ApiContext, api_context
from app.store.audit import entries
from app.store.tokens import Actor

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Who changed what, when, from what to what, and why")
def audit_log(
    entity: Literal["exclusion", "token", "runner", "month", "timeline"] | None = Query(
        None, description="Only this kind"
    ),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> dict[str, Any]:
    zone = context.zone
    with context.runtime.sessions() as session:
        rows = entries(session, entity=entity, limit=limit, offset=offset)
        return {
            "entries": [
                {
                    "id": row.id,
                    "at": row.at.astimezone(zone).isoformat(),
                    "actor": row.actor,
                    "action": row.action,
                    "entity": row.entity,
                    "entity_id": row.entity_id,
                    "before": row.before,
                    "after": row.after,
                    "reason": row.reason,
                }
                for row in rows
            ],
            "limit": limit,
            "offset": offset,
        }
