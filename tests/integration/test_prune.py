"""Observation retention: ``kadou db prune`` and the server's daily prune, on both engines."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app import main
from app.evidence import verify_bundle
from app.main import create_app
from app.retention import prune_observations
from app.runtime import open_runtime, upgrade
from app.settings import Settings
from app.store.db import make_engine, session_factory
from app.store.models import AuditEntry, CheckSegment, EndMark, Observation
from app.store.prune import delete_before, prune_bounds, rows_between
from tests.support.cli import KadouCli

# October 2026 in Tokyo: one hour of probes with a three-minute outage. November has one
# probe of its own; a 20-day retention puts the cut well after October (now is later).
OCTOBER_ROWS = 60
# The last success before the cut stays: each timeline can be amended from it on.
PRUNED = OCTOBER_ROWS - 1


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> KadouCli:
    monkeypatch.setenv("KADOU_REPORT_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("KADOU_OBSERVATION_RETENTION", "20d")
    cli = KadouCli(monkeypatch, database_url)
    cli("db", "upgrade")
    lines = [
        json.dumps(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": f"2026-10-20T10:{minute:02d}:00+09:00",
                "ok": minute not in (10, 11, 12),
            }
        )
        for minute in range(OCTOBER_ROWS)
    ]
    lines.append(
        json.dumps(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": "2026-11-20T10:00:00+09:00",
                "ok": True,
            }
        )
    )
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cli("import", str(path))
    return cli


def _count(url: str, table: type[Observation] | type[CheckSegment] | type[AuditEntry]) -> int:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            query = select(func.count()).select_from(table)
            if table is AuditEntry:
                query = query.where(AuditEntry.action == "prune")
            return int(session.execute(query).scalar_one())
    finally:
        engine.dispose()


def _segments(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(select(CheckSegment).order_by(CheckSegment.start_at))
            return [(s.check, s.location, s.start_at, s.end_at, s.state) for s in rows.scalars()]
    finally:
        engine.dispose()


def test_a_closed_month_is_pruned_after_its_bundle_is_written(
    kadou: KadouCli, database_url: str, tmp_path: Path
) -> None:
    kadou("month", "close", "2026-10")
    report = kadou("report", "--month", "2026-10", "--format", "json")
    segments = _segments(database_url)
    bundle = tmp_path / "reports" / "kadou-2026-10-evidence.zip"

    dry = kadou("db", "prune", "--dry-run")
    assert f"2026-10: would delete {PRUNED} observations, 0 end marks" in dry
    assert "2026-10: would write the evidence bundle first" in dry
    # November is open: its observations and the margin October's evaluation reads stay.
    assert "2026-11 is not closed yet: observations from 2026-10-29T15:00:00+00:00 on" in dry
    assert not bundle.exists() and _count(database_url, Observation) == OCTOBER_ROWS + 1
    assert _count(database_url, AuditEntry) == 0

    done = kadou("db", "prune")
    assert f"wrote {bundle}" in done
    assert f"deleted {PRUNED} observations and 0 end marks before 2026-10-29T15:00:00+00:00" in done
    assert _count(database_url, Observation) == 2
    assert _count(database_url, AuditEntry) == 1
    assert verify_bundle(bundle).identical
    assert _segments(database_url) == segments
    assert kadou("report", "--month", "2026-10", "--format", "json") == report
    # Recomputed from the timeline, October's figures did not move.
    assert kadou("month", "amend").strip() == "no closed month changed"
    # A second run finds nothing left to delete and keeps the bundle it wrote.
    again = kadou("db", "prune")
    assert again.strip().endswith("nothing to prune before 2026-10-29T15:00:00+00:00")
    assert verify_bundle(bundle).identical


def test_an_open_month_is_never_pruned(kadou: KadouCli, database_url: str, tmp_path: Path) -> None:
    out = kadou("db", "prune")
    assert "2026-10 is not closed yet: observations from 2026-09-28T15:00:00+00:00 on" in out
    assert "nothing to prune before 2026-09-28T15:00:00+00:00" in out
    assert _count(database_url, Observation) == OCTOBER_ROWS + 1
    assert not (tmp_path / "reports").exists()


def test_rebuilding_the_timeline_after_a_prune_keeps_the_pruned_part(
    kadou: KadouCli, database_url: str
) -> None:
    kadou("month", "close", "2026-10")
    report = kadou("report", "--month", "2026-10", "--format", "json")
    segments = _segments(database_url)
    assert f"deleted {PRUNED} observations" in kadou("db", "prune")
    out = kadou("db", "rebuild-timeline")
    assert out.startswith("rebuilt 1 timelines")
    assert "observations before 2026-10-29T15:00:00+00:00 were pruned" in out
    assert _segments(database_url) == segments
    assert kadou("report", "--month", "2026-10", "--format", "json") == report
    assert kadou("month", "amend").strip() == "no closed month changed"


def test_retention_settings(kadou: KadouCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KADOU_OBSERVATION_RETENTION", "forever")
    assert "nothing is pruned" in kadou("db", "prune")
    monkeypatch.setenv("KADOU_OBSERVATION_RETENTION", "62x")
    out = kadou("db", "prune", expect=2)
    assert out.startswith("kadou: KADOU_OBSERVATION_RETENTION: Value error, expected a duration")
    assert len(out.strip().splitlines()) == 1
    monkeypatch.setenv("KADOU_OBSERVATION_RETENTION", "1h")
    assert "shorter than a day" in kadou("db", "prune", expect=2)


def test_deletes_in_bounded_batches(kadou: KadouCli, database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            bounds = prune_bounds(session, datetime(2026, 11, 1, tzinfo=UTC))
        deleted = delete_before(sessions, bounds, batch_rows=7)
    finally:
        engine.dispose()
    assert deleted == (PRUNED, 0)
    assert _count(database_url, Observation) == 2
    assert _count(database_url, CheckSegment) > 0


def test_the_server_prunes_daily(
    kadou: KadouCli, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kadou("month", "close", "2026-10")
    monkeypatch.setattr(main, "PRUNE_FIRST_DELAY_SECONDS", 0.0)
    settings = Settings(
        database_url=database_url,
        report_dir=tmp_path / "reports",
        observation_retention="20d",
    )
    runtime = open_runtime(settings)
    app = create_app(runtime, scheduled_prune=True, metrics_refresh_seconds=None)

    async def run() -> None:
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            await wait_for(lambda: _count(database_url, Observation) == 2)

    asyncio.run(run())
    assert (tmp_path / "reports" / "kadou-2026-10-evidence.zip").is_file()
    assert _count(database_url, AuditEntry) == 1


def test_every_month_whose_data_goes_gets_its_bundle(
    kadou: KadouCli, database_url: str, tmp_path: Path
) -> None:
    kadou("month", "close", "2026-10")
    kadou("month", "close", "2026-11")
    reports = tmp_path / "reports"
    runtime = open_runtime(Settings(database_url=database_url, report_dir=reports))
    # On 5 December a 20-day cut (15 November) is past the margin November's evaluation
    # reads before it starts, so November's bundle is written too.
    result = prune_observations(
        runtime.sessions,
        runtime.catalog,
        "Asia/Tokyo",
        reports,
        20 * 86_400_000,
        actor="test",
        now=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert result.plan is not None and result.plan.held_by is None
    assert [path.name for path in result.bundles_written] == [
        "kadou-2026-10-evidence.zip",
        "kadou-2026-11-evidence.zip",
    ]
    assert result.observations == PRUNED
    for path in result.bundles_written:
        assert verify_bundle(path).identical, path


def test_many_series_each_keep_their_last_success_before_the_cut(database_url: str) -> None:
    """Several hundred series pruned together in batches that straddle series: each keeps
    exactly its rows from its own last success before the cut on, and a series with no
    success before the cut keeps everything."""
    upgrade(database_url)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    cut = start + timedelta(minutes=12)
    draw = random.Random(15)
    observations: list[dict[str, object]] = []
    marks: list[dict[str, object]] = []
    expected_observations: set[tuple[str, str, datetime]] = set()
    expected_marks: set[tuple[str, str, datetime]] = set()
    for number in range(400):
        # Names with quotes and non-ASCII letters travel with the bounds unharmed.
        check = f"sys-{number // 3 % 37}/it's-日本-{number // 3}/http"  # at three locations
        location = ("tokyo", "osaka", 'loc"x')[number % 3]
        # Every seventh series fails throughout the time before the cut.
        down_before_cut = number % 7 == 0
        rows = [
            (
                start + timedelta(minutes=minute, milliseconds=draw.randrange(1000)),
                not (down_before_cut and minute < 12) and draw.random() < 0.3,
            )
            for minute in range(20)
        ]
        successes = [at for at, ok in rows if ok and at < cut]
        bound = max(successes) if successes else None
        for at, ok in rows:
            observations.append({"check": check, "location": location, "observed_at": at, "ok": ok})
            if bound is None or at >= bound:
                expected_observations.add((check, location, at))
        for minute in (3, 9, 15):
            at = start + timedelta(minutes=minute, milliseconds=500)
            marks.append({"check": check, "location": location, "at": at})
            if bound is None or at >= bound:
                expected_marks.add((check, location, at))
    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        with sessions() as session, session.begin():
            session.execute(insert(Observation), observations)
            session.execute(insert(EndMark), marks)
        with sessions() as session:
            bounds = prune_bounds(session, cut)
            counted = rows_between(session, bounds, start, cut)
        assert counted == (
            len(observations) - len(expected_observations),
            len(marks) - len(expected_marks),
        )
        assert delete_before(sessions, bounds, batch_rows=97) == counted
        with sessions() as session:
            kept = {
                (check, location, at)
                for check, location, at in session.execute(
                    select(Observation.check, Observation.location, Observation.observed_at)
                )
            }
            kept_marks = {
                (check, location, at)
                for check, location, at in session.execute(
                    select(EndMark.check, EndMark.location, EndMark.at)
                )
            }
    finally:
        engine.dispose()
    assert kept == expected_observations
    assert kept_marks == expected_marks
