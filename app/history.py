"""Catalog history (SLA-SEMANTICS §8): which catalog was in force when.

Every entry point that runs with a catalog records it here. A closed month is judged by
the version in force at its end (its targets), with the structure of each version in
force during the month, so that a target changed, a check removed or a service renamed
afterwards leaves that month's figures as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.canonical import canonical_json, canonical_sha256, catalog_from_canonical
from app.catalog.model import Catalog, Check
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


def period_checks(catalog: Catalog, rows: Sequence[CatalogVersion]) -> dict[str, Check]:
    """Every check of the versions ``rows`` and of ``catalog``, by key: a period whose
    structure changed reads the data of the checks of each of its parts (§8). Where a
    check is in several, the latest definition wins (``catalog`` last)."""
    checks: dict[str, Check] = {}
    for row in rows:
        checks.update(version_catalog(row).checks())
    checks.update(catalog.checks())
    return checks


def relabelled_checks(
    catalog: Catalog, rows: Sequence[CatalogVersion], latest: CatalogVersion | None = None
) -> set[str]:
    """The checks whose ``confirm`` or ``stale_after`` differ between ``rows`` and
    ``catalog``, or from the ``latest`` version's (the store labels its timelines with
    today's): a period's evaluation labels their observations again piece by piece."""
    seen: dict[str, set[tuple[int, int]]] = {}
    for version in [*(version_catalog(row) for row in rows), catalog]:
        for key, check in version.checks().items():
            seen.setdefault(key, set()).add((check.confirm, check.stale_after_ms))
    now = {} if latest is None else version_catalog(latest).checks()
    return {
        key
        for key, params in seen.items()
        if len(params) > 1
        or (key in now and params != {(now[key].confirm, now[key].stale_after_ms)})
    }


def versions_json(rows: list[CatalogVersion], zone: tzinfo) -> list[dict[str, Any]]:
    return [
        {"sha256": row.sha256, "effective_from": row.effective_from.astimezone(zone).isoformat()}
        for row in rows
    ]
