"""Evidence bundles: written from SQLite or PostgreSQL, verified from the bundle alone."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.catalog.model import Catalog
from app.evidence import build_bundle, verify_bundle
from app.history import record_catalog
from app.months import close_month
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import Actor, Role

JST = ZoneInfo("Asia/Tokyo")
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
CLOSING = datetime(2026, 11, 1, 0, 10, tzinfo=JST)
START = datetime(2026, 10, 20, 8, tzinfo=JST)
CHECKS = ("jpki/main/http", "info-network/main/http")


def _closed_month(url: str) -> tuple[sessionmaker[Session], Catalog]:
    """October with an outage on each of two systems, a planned window, closed twice."""
    sessions = session_factory(make_engine(url))
    catalog = load_catalog()
    record_catalog(sessions, catalog, "test", at=datetime(2026, 9, 1, tzinfo=JST))
    # The catalog's own confirm and stale_after, as Kadou stores them (a bundle is replayed
    # with the catalog's).
    checks = catalog.checks()
    params = {
        key: TimelineParams(checks[key].confirm, checks[key].stale_after_ms) for key in CHECKS
    }
    batch = [
        ObservationIn(key, "tokyo", START + timedelta(minutes=m), m not in failing)
        for key, failing in zip(CHECKS, (range(120, 125), range(60, 70)), strict=True)
        for m in range(4 * 60)
    ]
    with transaction(sessions) as session:
        store_observations(session, batch, params)
    assert close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING)
    with transaction(sessions) as session:
        add_exclusion(
            session,
            catalog,
            ExclusionRequest(
                scope="info-network",
                kind="planned",
                starts_at=START + timedelta(minutes=65),
                ends_at=START + timedelta(minutes=90),
                reason="計画停止（遡及登録）",
                retroactive=True,
            ),
            Actor(name="admin", role=Role.ADMIN),
            now=CLOSING + timedelta(days=3),
        )
    amended = close_month(sessions, catalog, OCTOBER, actor="admin", now=CLOSING)
    assert amended is not None and amended.version == 2
    return sessions, catalog


def _bundle(url: str, tmp_path: Path, *, segments: bool = False) -> Path:
    sessions, catalog = _closed_month(url)
    with sessions() as session:
        body = build_bundle(
            session, catalog, "2026-10", "Asia/Tokyo", segments=segments, now=CLOSING
        )
    path = tmp_path / "evidence-2026-10.zip"
    path.write_bytes(body)
    return path


@pytest.mark.parametrize("segments", [False, True], ids=["observations", "segments"])
def test_a_bundle_verifies_on_a_fresh_database(
    migrated_url: str, tmp_path: Path, segments: bool
) -> None:
    path = _bundle(migrated_url, tmp_path, segments=segments)
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("manifest.json"))
    assert {"reports/v1.json", "reports/v2.json", "exclusions.json", "audit.json"} <= names
    assert ("segments.csv" if segments else "observations.csv") in names
    assert set(manifest["files"]) == names - {"manifest.json"}
    verification = verify_bundle(path)
    assert verification.identical, verification.lines()
    assert verification.version == 2
    assert verification.lines()[0].startswith("identical")


def _rewrite(path: Path, name: str, body: bytes, *, update_manifest: bool) -> None:
    with zipfile.ZipFile(path) as bundle:
        files = {item: bundle.read(item) for item in bundle.namelist()}
    files[name] = body
    if update_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"][name] = hashlib.sha256(body).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as bundle:
        for item, content in files.items():
            bundle.writestr(item, content)


def _flipped_observations(path: Path) -> bytes:
    """observations.csv with the success that ended JPKI's outage turned into a failure."""
    with zipfile.ZipFile(path) as bundle:
        rows = list(csv.reader(io.StringIO(bundle.read("observations.csv").decode())))
    recovered = (START + timedelta(minutes=125)).astimezone(ZoneInfo("UTC"))
    stamp = recovered.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    flipped = [i for i, row in enumerate(rows) if row[0] == "jpki/main/http" and row[2] == stamp]
    assert len(flipped) == 1 and rows[flipped[0]][3] == "1"
    rows[flipped[0]][3] = "0"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def test_a_flipped_observation_fails_verification_naming_the_figure(
    migrated_url: str, tmp_path: Path
) -> None:
    path = _bundle(migrated_url, tmp_path)
    _rewrite(path, "observations.csv", _flipped_observations(path), update_manifest=True)
    verification = verify_bundle(path)
    assert not verification.identical
    moved = {
        (d["indicator"], d["figure"]): (d["before"], d["after"]) for d in verification.differences
    }
    assert moved[("jpki/main", "downtime_seconds")] == (300, 360)
    assert {indicator for indicator, _ in moved} == {"jpki", "jpki/main"}
    assert "jpki/main downtime_seconds: report 300, recomputed 360" in verification.lines()


def test_a_file_changed_without_its_digest_fails_verification(
    migrated_url: str, tmp_path: Path
) -> None:
    path = _bundle(migrated_url, tmp_path)
    _rewrite(path, "observations.csv", _flipped_observations(path), update_manifest=False)
    verification = verify_bundle(path)
    assert verification.lines() == ["observations.csv: SHA-256 does not match the manifest"]


def test_a_bundle_of_a_month_not_closed_verifies_against_its_report(
    sqlite_url: str, tmp_path: Path
) -> None:
    from app.runtime import upgrade

    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    catalog = load_catalog()
    record_catalog(sessions, catalog, "test", at=datetime(2026, 9, 1, tzinfo=JST))
    checks = catalog.checks()
    params = {"jpki/main/http": TimelineParams(2, checks["jpki/main/http"].stale_after_ms)}
    batch = [
        ObservationIn("jpki/main/http", "tokyo", START + timedelta(seconds=30 * i), i != 7)
        for i in range(200)
    ]
    with transaction(sessions) as session:
        store_observations(session, batch, params)
    with sessions() as session:
        body = build_bundle(session, catalog, "2026-10", "Asia/Tokyo", now=CLOSING)
    path = tmp_path / "open.zip"
    path.write_bytes(body)
    with zipfile.ZipFile(path) as bundle:
        assert "reports/open.json" in bundle.namelist()
        report = json.loads(bundle.read("reports/open.json"))
    assert report["version"] is None and report["closed_at"] is None
    verification = verify_bundle(path)
    assert verification.identical and verification.version is None, verification.lines()
