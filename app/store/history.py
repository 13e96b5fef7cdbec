"""Catalog versions and closed-month versions (SLA-SEMANTICS §8, §9): both kept for ever.

Also the reads that digest a month's inputs, so that a change to any of them (a late
observation, a window, a timeline rebuild) is noticed by the next closing run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store.models import (
    AuditEntry,
    CatalogVersion,
    CheckSegment,
    EndMark,
    Exclusion,
    MonthVersion,
    Observation,
)

# --- catalog versions ----------------------------------------------------------------------

# The advisory lock key that serialises recording catalog versions ("KADOUCAT" in ASCII).
CATALOG_LOCK = 0x4B41444F55434154


def latest_catalog_version(session: Session) -> CatalogVersion | None:
    query = select(CatalogVersion).order_by(
        CatalogVersion.effective_from.desc(), CatalogVersion.id.desc()
    )
    return session.execute(query.limit(1)).scalars().first()


def record_catalog_version(
    session: Session, *, sha256: str, content: str, at: datetime, loaded_by: str, source: str
) -> CatalogVersion | None:
    """Record the catalog as in force from ``at``; None when it is already the one in force.

    Going back to an earlier catalog is a new version (it takes effect again from ``at``).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Replicas starting together with the same new catalog record it once: the check
        # and the insert are serialised for the rest of the transaction.
        session.execute(select(func.pg_advisory_xact_lock(CATALOG_LOCK)))
    latest = latest_catalog_version(session)
    if latest is not None and latest.sha256 == sha256:
        return None
    row = CatalogVersion(
        sha256=sha256, content=content, effective_from=at, loaded_by=loaded_by, source=source[:500]
    )
    session.add(row)
    session.flush()
    return row


def catalog_versions(session: Session) -> list[CatalogVersion]:
    query = select(CatalogVersion).order_by(CatalogVersion.effective_from, CatalogVersion.id)
    return list(session.execute(query).scalars())


def catalog_version_at(session: Session, instant: datetime) -> CatalogVersion | None:
    """The version in force at ``instant`` (the last one that took effect at or before it)."""
    query = (
        select(CatalogVersion)
        .where(CatalogVersion.effective_from <= instant)
        .order_by(CatalogVersion.effective_from.desc(), CatalogVersion.id.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def catalog_versions_between(
    session: Session, start: datetime, end: datetime
) -> list[CatalogVersion]:
    """The versions in force at some instant of ``[start, end)``, oldest first."""
    first = catalog_version_at(session, start)
    query = (
        select(CatalogVersion)
        .where(CatalogVersion.effective_from > start, CatalogVersion.effective_from < end)
        .order_by(CatalogVersion.effective_from, CatalogVersion.id)
    )
    later = list(session.execute(query).scalars())
    return ([first] if first is not None else []) + later


# --- closed months -------------------------------------------------------------------------


def month_versions(session: Session, month: str | None = None) -> list[MonthVersion]:
    query = select(MonthVersion).order_by(MonthVersion.month, MonthVersion.version)
    if month is not None:
        query = query.where(MonthVersion.month == month)
    return list(session.execute(query).scalars())


def latest_version_numbers(session: Session) -> dict[str, int]:
    """Each closed month's latest version number, without reading the documents."""
    query = select(MonthVersion.month, func.max(MonthVersion.version)).group_by(MonthVersion.month)
    return {month: int(version) for month, version in session.execute(query)}


def latest_month_version(session: Session, month: str) -> MonthVersion | None:
    query = (
        select(MonthVersion)
        .where(MonthVersion.month == month)
        .order_by(MonthVersion.version.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def month_version(session: Session, month: str, version: int) -> MonthVersion | None:
    query = select(MonthVersion).where(MonthVersion.month == month, MonthVersion.version == version)
    return session.execute(query).scalars().first()


def add_month_version(session: Session, row: MonthVersion) -> bool:
    """Insert ``row``; False when another process made the same version first."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def audit_watermark(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(AuditEntry.id), 0))).scalar_one())


def audit_entries_after(session: Session, after_id: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)
    return list(session.execute(query).scalars())


def audit_entries_by_id(session: Session, ids: Sequence[int]) -> list[AuditEntry]:
    if not ids:
        return []
    query = select(AuditEntry).where(AuditEntry.id.in_(list(ids))).order_by(AuditEntry.id)
    return list(session.execute(query).scalars())


def exclusion_audit_entries(session: Session, exclusion_ids: Sequence[int]) -> list[AuditEntry]:
    if not exclusion_ids:
        return []
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.entity == "exclusion",
            AuditEntry.entity_id.in_([str(i) for i in exclusion_ids]),
        )
        .order_by(AuditEntry.id)
    )
    return list(session.execute(query).scalars())


def segments_digest(session: Session, checks: Sequence[str], start: datetime, end: datetime) -> str:
    """SHA-256 of every segment of ``checks`` overlapping ``[start, end)``, in key order."""
    digest = hashlib.sha256()
    if checks:
        query = (
            select(
                CheckSegment.check,
                CheckSegment.location,
                CheckSegment.start_at,
                CheckSegment.end_at,
                CheckSegment.state,
            )
            .where(
                CheckSegment.check.in_(list(checks)),
                CheckSegment.start_at < end,
                CheckSegment.end_at > start,
            )
            .order_by(CheckSegment.check, CheckSegment.location, CheckSegment.start_at)
        )
        for check, location, start_at, end_at, state in session.execute(query):
            digest.update(
                f"{check}\t{location}\t{start_at.isoformat()}\t{end_at.isoformat()}\t{state}\n".encode()
            )
    return digest.hexdigest()


def observations_between(
    session: Session, checks: Sequence[str], start: datetime, end: datetime
) -> Iterator[tuple[str, str, datetime, bool, float | None, str | None]]:
    """(check, location, observed_at, ok, latency_ms, detail) in key order, streamed.

    Plain rows fetched in chunks, not ORM objects in one list: a month of a large catalog
    is millions of them.
    """
    if not checks:
        return
    query = (
        select(
            Observation.check,
            Observation.location,
            Observation.observed_at,
            Observation.ok,
            Observation.latency_ms,
            Observation.detail,
        )
        .where(
            Observation.check.in_(list(checks)),
            Observation.observed_at >= start,
            Observation.observed_at < end,
        )
        .order_by(Observation.check, Observation.location, Observation.observed_at)
        .execution_options(yield_per=20_000)
    )
    for row in session.execute(query):
        yield (row[0], row[1], row[2], row[3], row[4], row[5])


def observation_series_between(
    session: Session, checks: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """The (check, location) pairs with observations in ``[start, end)``."""
    if not checks:
        return []
    query = (
        select(Observation.check, Observation.location)
        .where(
            Observation.check.in_(list(checks)),
            Observation.observed_at >= start,
            Observation.observed_at < end,
        )
        .distinct()
    )
    return sorted((check, location) for check, location in session.execute(query))


def series_observations_between(
    session: Session, check: str, location: str, start: datetime, end: datetime
) -> list[tuple[datetime, bool, float | None, str | None]]:
    """(observed_at, ok, latency_ms, detail) of one check from one location, in time order."""
    query = (
        select(Observation.observed_at, Observation.ok, Observation.latency_ms, Observation.detail)
        .where(
            Observation.check == check,
            Observation.location == location,
            Observation.observed_at >= start,
            Observation.observed_at < end,
        )
        .order_by(Observation.observed_at)
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]


def end_marks_between(
    session: Session, checks: Sequence[str], start: datetime, end: datetime
) -> list[EndMark]:
    if not checks:
        return []
    query = (
        select(EndMark)
        .where(EndMark.check.in_(list(checks)), EndMark.at >= start, EndMark.at < end)
        .order_by(EndMark.check, EndMark.location, EndMark.at)
    )
    return list(session.execute(query).scalars())


def segments_rows_between(
    session: Session, checks: Sequence[str], start: datetime, end: datetime
) -> list[CheckSegment]:
    if not checks:
        return []
    query = (
        select(CheckSegment)
        .where(
            CheckSegment.check.in_(list(checks)),
            CheckSegment.start_at < end,
            CheckSegment.end_at > start,
        )
        .order_by(CheckSegment.check, CheckSegment.location, CheckSegment.start_at)
    )
    return list(session.execute(query).scalars())


def insert_segments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Segments as an evidence bundle gives them, into an empty database."""
    session.add_all(CheckSegment(**row) for row in rows)
    session.flush()


def insert_exclusions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Windows as an evidence bundle gives them, into an empty database (ids kept)."""
    session.add_all(Exclusion(**row) for row in rows)
    session.flush()
