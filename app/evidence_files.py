"""Evidence bundles beside the reports follow a month's amendments (SLA-SEMANTICS §9).

Before a prune deletes a closed month's raw observations it writes the month's bundle
(``kadou-2026-10-evidence.zip``) into the report directory. If the month is amended later
(a retroactive window, late observations), that bundle no longer matches the latest
version, and the store cannot rebuild it: its observations are gone. So after an
amendment the next bundle is written beside it, ``kadou-2026-10-evidence-v2.zip``, from
the previous bundle's observations together with what the store holds now (late data
included), with the new version's report. Nothing is overwritten: every earlier bundle
stays as it was handed out.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.model import Catalog
from app.retention import bundle_path
from app.store import history

log = logging.getLogger("kadou.evidence")


def versioned_bundle_path(report_dir: Path, month: str, version: int) -> Path:
    return report_dir / f"kadou-{month}-evidence-v{version}.zip"


def _bundle_version(path: Path) -> int | None:
    """The latest version a bundle holds the report of; None for an open month's."""
    with zipfile.ZipFile(path) as bundle:
        versions = json.loads(bundle.read("month.json")).get("versions") or []
    return max((int(item["version"]) for item in versions), default=None)


def latest_bundle(report_dir: Path, month: str) -> tuple[Path, int | None] | None:
    """The month's bundle in ``report_dir`` holding the latest version, or None."""
    pattern = re.compile(rf"^kadou-{re.escape(month)}-evidence(-v\d+)?\.zip$")
    found = []
    for path in report_dir.glob(f"kadou-{month}-evidence*.zip"):
        if pattern.match(path.name):
            version = _bundle_version(path)
            found.append((-1 if version is None else version, path.name, path))
    if not found:
        return None
    version, _, path = max(found)
    return path, None if version < 0 else version


def refresh_amended_bundles(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    timezone: str,
    report_dir: Path,
    months: Iterable[str] | None = None,
) -> list[Path]:
    """Write the bundle of each closed month whose bundle in ``report_dir`` is behind its
    latest version; returns the bundles written. Months without a bundle there are left
    alone (their observations were never pruned: ``kadou evidence`` writes theirs)."""
    from app.evidence import write_bundle

    if not report_dir.is_dir():
        return []
    with sessions() as session:
        latest = history.latest_version_numbers(session)
    written = []
    for month in sorted(latest if months is None else set(months) & set(latest)):
        found = latest_bundle(report_dir, month)
        if found is None:
            continue
        earlier, version = found
        if version is not None and version >= latest[month]:
            continue
        path = versioned_bundle_path(report_dir, month, latest[month])
        if path.exists() or path == bundle_path(report_dir, month):
            continue
        partial = path.with_name(f".{path.name}.partial")
        try:
            with (
                zipfile.ZipFile(earlier) as previous,
                partial.open("wb") as stream,
                sessions() as session,
            ):
                write_bundle(stream, session, catalog, month, timezone, earlier=previous)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        log.info("%s is at version %s: wrote %s beside %s", month, latest[month], path, earlier)
        written.append(path)
    return written
