"""Catalog history (SLA-SEMANTICS §8): which catalog was in force when.

Every entry point that runs with a catalog records it here; the evaluation of a closed
month uses the version in force at the month's end, so that a target changed, a check
removed or a service renamed afterwards leaves that month's figures as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.canonical import canonical_json, canonical_sha256, catalog_from_canonical
from app.catalog.model import Catalog
from app.store import history
from app.store.db import transaction
from app.store.models import CatalogVersion


def record_catalog(
    sessions: sessionmaker[Session], catalog: Catalog, loaded_by: str, *, at: datetime | None = None
) -> CatalogVersion | None:
    """Record ``catalog`` as in force from ``at`` (now); None when it already is."""
    content = canonical_json(catalog)
    with transaction(sessions) as session:
        return history.record_catalog_version(
            session,
            sha256=canonical_sha256(content),
            content=content,
            at=(at or datetime.now(UTC)).astimezone(UTC),
            loaded_by=loaded_by,
            source=catalog.source,
        )


def version_catalog(row: CatalogVersion) -> Catalog:
    return catalog_from_canonical(row.content, f"catalog version {row.sha256[:12]}")


def catalog_for_period_end(
    session: Session, end: datetime, fallback: Catalog
) -> tuple[Catalog, CatalogVersion | None]:
    """The catalog whose targets and structure a period ending at ``end`` is judged by.

    The version in force at the period's end (§8); before any version was recorded, the
    oldest one recorded (the closest to the period we know of); with none, ``fallback``.
    """
    # A version that took effect at the very end instant belongs to the next period.
    row = history.catalog_version_at(session, end - timedelta(milliseconds=1))
    if row is None:
        versions = history.catalog_versions(session)
        row = versions[0] if versions else None
    if row is None:
        return fallback, None
    return version_catalog(row), row


def versions_json(rows: list[CatalogVersion], zone: tzinfo) -> list[dict[str, Any]]:
    return [
        {"sha256": row.sha256, "effective_from": row.effective_from.astimezone(zone).isoformat()}
        for row in rows
    ]
