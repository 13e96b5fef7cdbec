"""What the embedded probe runner needs to know at start: which checks were failing.

A check whose last observation (at this location) failed is probed on its retry cadence
at once after a restart, rather than waiting up to an interval for its grid (the
catalog's ``retry_interval``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import Observation


def failing_checks(
    session: Session, location: str, checks: Collection[str], since: datetime
) -> set[str]:
    """Checks of ``checks`` whose latest observation at ``location`` since ``since`` failed."""
    latest = (
        select(
            Observation.check,
            Observation.ok,
            func.row_number()
            .over(partition_by=Observation.check, order_by=Observation.observed_at.desc())
            .label("rank"),
        )
        .where(Observation.location == location, Observation.observed_at >= since)
        .subquery()
    )
    rows = session.execute(select(latest.c.check).where(latest.c.rank == 1, ~latest.c.ok))
    return {check for (check,) in rows if check in checks}
