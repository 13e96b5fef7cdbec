"""The append-only audit log: who changed what, when, from what to what, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
    at: datetime | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session, *, entity: str | None = None, limit: int = 500, offset: int = 0
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    return list(session.execute(query).scalars())
