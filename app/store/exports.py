"""Which months' reports have been written, so that each month is exported once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.store.models import ReportExport


def export_recorded(session: Session, period_label: str) -> bool:
    """True when the reports of ``period_label`` (e.g. ``2026-10``) were already written."""
    query = select(ReportExport.id).where(ReportExport.period == period_label)
    return session.execute(query).first() is not None


def record_export(
    sessions: sessionmaker[Session], period_label: str, written_at: datetime, files: Sequence[str]
) -> bool:
    """Record the month's export; False when another process recorded it first.

    The period is unique in the table, so of several replicas exporting the same month at
    once exactly one records it; their files are identical, so the others just log it.
    """
    try:
        with sessions() as session, session.begin():
            session.add(ReportExport(period=period_label, written_at=written_at, files=list(files)))
    except IntegrityError:
        return False
    return True
