"""Probe runners as the database knows them: the heartbeat each one writes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import audit
from app.store.models import RunnerHeartbeat


def runner_heartbeats(session: Session) -> list[RunnerHeartbeat]:
    """Every runner's last heartbeat, by runner id."""
    query = select(RunnerHeartbeat).order_by(RunnerHeartbeat.runner_id)
    return list(session.execute(query).scalars())


def forget_runner(session: Session, runner_id: str, *, actor: str, reason: str) -> bool:
    """Delete a runner's heartbeat (audited); False when no such runner has reported."""
    row = session.get(RunnerHeartbeat, runner_id)
    if row is None:
        return False
    before = {"runner": row.runner_id, "location": row.location}
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="delete",
        entity="runner",
        entity_id=runner_id,
        before=before,
        after=None,
        reason=reason,
    )
    return True
